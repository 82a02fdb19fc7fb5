"""A personal ChatGPT history written by hand: one person (Rita, a data engineer who moves from
Porto to Lisbon) over January 2025 to October 2026. Topics recur and decisions change (backups,
the side project's database, the car, the editor), questions are asked again, facts are stated
in passing, and some conversations are in Portuguese. ``generate.py`` turns it into a
``conversations.json`` export and its questions into qrels.

Each conversation: (key, title, start "YYYY-MM-DD HH:MM", [(role, text), ...]); turns are two
minutes apart.
"""

U, A = "user", "assistant"

CONVERSATIONS = [
    ("backup1", "NAS for family photos", "2025-01-12 21:10", [
        (U, "I have about 2 TB of family photos spread across three laptops and an old external "
            "drive. I'm thinking of buying a NAS. Synology DS224+ or build something myself?"),
        (A, "For 2 TB of photos and little appetite for maintenance, the Synology DS224+ with two "
            "4 TB drives in RAID 1 is the easy choice: Synology Photos replaces Google Photos, and "
            "Hyper Backup can push an encrypted copy off-site. A DIY box is cheaper per terabyte "
            "but you become the sysadmin."),
        (U, "Ok, going with the DS224+ and two WD Red Plus 4TB. RAID 1."),
        (A, "Good plan. Remember RAID is not a backup: set up Hyper Backup to an external drive "
            "or a cloud bucket so a fire or ransomware does not take both copies."),
    ]),
    ("dtjson1", "datetime JSON error", "2025-01-20 10:02", [
        (U, "TypeError: Object of type datetime is not JSON serializable. I'm doing "
            "json.dumps(event) where event has a created_at field. How do I fix this?"),
        (A, "json does not know how to encode datetime objects. Convert them to strings first: "
            "call created_at.isoformat() when you build the dict, or pass a fallback encoder: "
            "json.dumps(event, default=str). For a round trip, store isoformat() and parse it "
            "back with datetime.fromisoformat()."),
        (U, "isoformat() worked, thanks!"),
    ]),
    ("run1", "Half marathon plan", "2025-03-03 07:45", [
        (U, "I want to run the Lisbon half marathon in October. I can run 8 km now at about "
            "6:10/km. Can you give me a 30-week plan, 4 runs a week?"),
        (A, "Here is a 30-week plan in three blocks: base (weeks 1-10, easy runs 5-10 km, one "
            "long run growing by 1 km a week), build (weeks 11-22, add a weekly tempo run and "
            "400 m intervals), and specific (weeks 23-30, long runs up to 19 km, race-pace "
            "sections, a two-week taper). Keep 80% of the volume easy."),
        (U, "Great. My knee hurts a bit after long runs though."),
        (A, "Knee pain after long runs is often from increasing volume too fast or weak hips. "
            "Add two short strength sessions (clamshells, glute bridges, step-downs) and keep "
            "the weekly increase under 10%. If the pain is sharp or swelling, see a physio."),
    ]),
    ("db1", "Database for the budget app", "2025-02-08 16:30", [
        (U, "For my side project, a personal budget app (Flask + React), should I use MongoDB or "
            "PostgreSQL? The transactions have categories, tags and splits."),
        (A, "Both work. MongoDB lets you store a transaction with its splits and tags as one "
            "document and change the shape as you go; PostgreSQL gives you joins, constraints "
            "and exact NUMERIC amounts for money. For a budget app I would lean PostgreSQL."),
        (U, "I'll go with MongoDB for now, I want to move fast and the schema keeps changing. "
            "Atlas free tier."),
        (A, "Fair. Store amounts as integer cents (or Decimal128), never floats, and keep a "
            "schema version field on each document so you can migrate later."),
    ]),
    ("apt1", "Procurar apartamento em Lisboa", "2025-02-22 14:05", [
        (U, "Vou mudar-me do Porto para Lisboa em abril por causa do trabalho. Que bairros me "
            "recomendas para um T1 até 1100 euros, perto do metro?"),
        (A, "Com esse orçamento vale a pena ver Arroios, Anjos, Penha de França e Alvalade: "
            "têm metro (linha verde e vermelha), comércio de bairro e rendas ainda dentro do "
            "limite para um T1. Campo de Ourique é bonito mas sem metro e mais caro."),
        (U, "Gostei de Arroios. E o que devo pedir ao senhorio antes de assinar?"),
        (A, "Peça a certidão de registo predial, a licença de utilização, o certificado "
            "energético, confirme quem paga o condomínio e registe o contrato nas Finanças. "
            "A caução costuma ser de um ou dois meses de renda."),
    ]),
    ("job1", "Offer from Lumen", "2025-02-27 18:20", [
        (U, "I got the offer: senior data engineer at Lumen, a fintech in Lisbon, 58k plus "
            "bonus, hybrid three days in the office. Should I negotiate?"),
        (A, "Yes, politely. Ask whether there is flexibility on base salary given your Airflow "
            "and dbt experience, and ask for the bonus criteria in writing. A 5-8% counter is "
            "normal and rarely withdraws an offer."),
    ]),
    ("docker1", "docker compose can't reach postgres", "2025-04-02 11:15", [
        (U, "My Flask container can't connect to postgres in docker compose: connection refused "
            "on localhost:5432. The db container is running."),
        (A, "Inside a container, localhost is the container itself. Use the service name as "
            "the host: postgresql://user:pass@db:5432/app if the service is called db. Also add "
            "depends_on with a healthcheck so Flask starts after Postgres accepts connections."),
        (U, "Changing the host to db fixed it."),
    ]),
    ("apt2", "Contrato de arrendamento", "2025-04-10 19:40", [
        (U, "Assinei ontem o contrato do T1 na Rua Pascoal de Melo, em Arroios. 1050 euros, "
            "caução de dois meses. Tenho de fazer alguma coisa nas Finanças?"),
        (A, "Parabéns! O senhorio tem de comunicar o contrato às Finanças e emitir recibos de "
            "renda eletrónicos; guarde-os porque pode deduzir parte da renda no IRS. Mude "
            "também a morada no cartão de cidadão."),
    ]),
    ("pandas1", "SettingWithCopyWarning", "2025-04-22 15:03", [
        (U, "pandas keeps giving me SettingWithCopyWarning when I do df[df.amount > 0]['category'] "
            "= 'income'. The column doesn't change."),
        (A, "Chained indexing writes to a temporary copy. Do it in one step with .loc: "
            "df.loc[df.amount > 0, 'category'] = 'income'. If you meant to work on a subset, "
            "take an explicit copy first: sub = df[df.amount > 0].copy()."),
    ]),
    ("editor1", "Trying Neovim", "2025-05-05 22:10", [
        (U, "I'm switching from VS Code to Neovim. Is LazyVim a good starting point?"),
        (A, "Yes: LazyVim gives you LSP, Telescope, Treesitter and sensible keymaps out of the "
            "box, and you can override each plugin in lua/plugins. Learn the motions first; "
            "the plugins can wait."),
        (U, "Installed LazyVim. How do I get pyright and ruff working?"),
        (A, "Enable the lang.python extra (:LazyExtras, then lang.python). It installs pyright "
            "and ruff through Mason and wires formatting on save."),
    ]),
    ("backup2", "Off-site backup", "2025-06-14 10:30", [
        (U, "The NAS is working but I realised I have no off-site copy. Hyper Backup to C2 or "
            "restic to Backblaze B2?"),
        (A, "If you want the backups readable without a Synology, restic is the better tool: "
            "open source, encrypted, deduplicated, and it runs from a container on the NAS. B2 "
            "costs about 6 dollars per TB per month."),
        (U, "Decided: restic in a Docker container on the NAS, nightly to Backblaze B2, keep 7 "
            "daily, 4 weekly, 12 monthly snapshots."),
        (A, "Sensible retention: restic forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 "
            "--prune. Test a restore every few months, and keep the repository password in your "
            "password manager, not only on the NAS."),
    ]),
    ("dog1", "Puppy food", "2025-06-28 09:12", [
        (U, "We adopted a dog last Saturday from the shelter in Loures, a 4-month-old mixed breed "
            "we named Biscoito. How much should a puppy that size eat?"),
        (A, "For a puppy of about 8 kg expected to reach 15-20 kg, follow the food's table for "
            "the expected adult weight, usually around 200-250 g a day split into three meals "
            "until six months, then two."),
    ]),
    ("dtjson2", "datetime JSON error (continuação 2)", "2025-07-03 14:22", [
        (U, "Object of type datetime is not JSON serializable again, now in a FastAPI "
            "background task that writes to a file with json.dump."),
        (U, "Object of type datetime is not JSON serializable again, now in a FastAPI "
            "background task that writes to a file with json.dump."),
        (A, "Same cause as before: json cannot encode datetime. In FastAPI use "
            "fastapi.encoders.jsonable_encoder(payload) before json.dump, which turns datetimes "
            "into ISO 8601 strings, or call .isoformat() on the field yourself."),
    ]),
    ("car1", "Which car", "2025-07-19 17:55", [
        (U, "Now that we have a dog we need a car. Thinking about a used Toyota Yaris hybrid, "
            "2019-2020, around 15k. Good idea?"),
        (A, "The Yaris hybrid is very reliable and cheap to run in the city, but the boot is "
            "small for a dog crate. A Corolla Touring Sports hybrid or a Kia Niro gives you "
            "the same economy with much more room."),
        (U, "Hmm, maybe. Let's say the Yaris for now, we'll rent something for long trips."),
    ]),
    ("taxes1", "IRS jovem", "2025-05-20 20:00", [
        (U, "Tenho 29 anos, é o meu terceiro ano de trabalho. Posso beneficiar do IRS Jovem "
            "na declaração deste ano?"),
        (A, "Sim: o IRS Jovem isenta parte do rendimento nos primeiros anos de trabalho até aos "
            "35 anos. Na declaração, no anexo A, assinale a opção e indique o ano em que "
            "concluiu o ciclo de estudos. O simulador do Portal das Finanças mostra o efeito."),
    ]),
    ("run2", "Race report", "2025-10-06 08:30", [
        (U, "I ran the Lisbon half marathon yesterday! 2:03:41. The bridge was windy but I "
            "kept 5:50/km until km 17 and then suffered."),
        (A, "Congratulations on your first half marathon! Fading after km 17 is classic: next "
            "time add a few 18-20 km long runs and practise taking gels every 40 minutes."),
        (U, "Should I aim for a full marathon next year?"),
        (A, "With a year of consistent training, yes. A 20-week plan from a half-marathon base "
            "is realistic; pick a flat autumn race."),
    ]),
    ("db2", "Migrate Mongo to Postgres", "2025-08-16 13:40", [
        (U, "The budget app on MongoDB is getting painful: reports need joins and I had a "
            "rounding bug with amounts. I'm going to migrate to PostgreSQL. How should I do it?"),
        (A, "Design the tables first (accounts, transactions, splits, tags, transaction_tags) "
            "with NUMERIC(12,2) amounts. Then write a one-off script: read each document with "
            "pymongo, insert with psycopg in batches, and compare totals per month between the "
            "two stores before switching the app."),
        (U, "Done, the app runs on Postgres 16 now, with SQLAlchemy 2 and Alembic migrations."),
    ]),
    ("sister1", "Gift for Marta", "2025-03-08 12:00", [
        (U, "My sister Marta turns 32 on the 14th of March. She's into ceramics and hiking. "
            "Gift ideas under 80 euros?"),
        (A, "A beginner wheel-throwing class for two, a good trail guide to the Gerês with a "
            "water filter bottle, or a set of underglazes and a kiln-safe stamp kit."),
        (U, "The pottery class for two is perfect, we can go together."),
    ]),
    ("git1", "undo last commit", "2025-05-13 09:50", [
        (U, "How do I undo my last git commit but keep the changes?"),
        (A, "git reset --soft HEAD~1 keeps the changes staged; git reset HEAD~1 (mixed) keeps "
            "them in the working tree unstaged. If you already pushed, prefer git revert."),
    ]),
    ("git2", "undo last commit", "2025-11-04 17:35", [
        (U, "How do I undo my last git commit but keep the changes?"),
        (A, "Use git reset --soft HEAD~1: the commit disappears and its changes stay staged."),
    ]),
    ("sleep1", "Sleep", "2025-09-09 23:20", [
        (U, "I've been waking up at 4am every night for two weeks. Any ideas?"),
        (A, "Common causes are stress, caffeine after noon, alcohol, a warm room or screens "
            "late. Keep a fixed wake time, no caffeine after 12, and if it goes on for more "
            "than a month talk to your doctor."),
        (U, "Went to the doctor last Thursday. She suggested magnesium glycinate and a CBT-I "
            "app. Should I take it at night?"),
        (A, "Magnesium glycinate is usually taken 30-60 minutes before bed. CBT-I has the best "
            "evidence for chronic insomnia; give it six weeks."),
    ]),
    ("energy1", "Mudar de fornecedor de eletricidade", "2025-10-20 21:15", [
        (U, "A fatura da EDP veio 94 euros para um T1. Vale a pena mudar para a Goldenergy "
            "ou a Luzboa?"),
        (A, "Use o simulador da ERSE com o seu consumo anual e a potência contratada. Para um "
            "T1, baixar a potência de 6,9 para 4,6 kVA também poupa na parte fixa."),
        (U, "Mudei para a Goldenergy, tarifa simples, e baixei a potência para 4,6 kVA."),
    ]),
    ("editor2", "Back to VS Code?", "2025-12-02 19:00", [
        (U, "After seven months on Neovim I'm tired of fixing my config every time a plugin "
            "updates. Is it crazy to go back to VS Code with the Vim extension?"),
        (A, "Not at all. Many people keep Vim motions and let VS Code handle the rest. The "
            "vscodevim extension, or vscode-neovim if you want your real Neovim motions."),
        (U, "Ok, I'm back on VS Code with vscode-neovim. Keeping my Neovim config only for "
            "quick edits over ssh."),
    ]),
    ("japan1", "Japan itinerary", "2026-01-18 20:40", [
        (U, "We are going to Japan for 12 days in April 2026: Tokyo, Kyoto, Osaka. Should we "
            "buy the JR Pass?"),
        (A, "Since the 2023 price increase the 7-day JR Pass rarely pays off for Tokyo-Kyoto-"
            "Osaka only. Buy single Shinkansen tickets and use a Suica card in the cities."),
    ]),
    ("car2", "EV instead of the Yaris", "2026-02-11 18:10", [
        (U, "We never bought the Yaris. With the dog and trips to my parents in Porto we want "
            "something bigger. Is a used Kia e-Niro 64 kWh a good buy?"),
        (A, "The 64 kWh e-Niro has about 400 km of real range, a large boot and a good battery "
            "record. Check the battery state of health with a diagnostic and whether the heat "
            "pump is fitted."),
        (U, "We bought it! 2021 e-Niro, 62k km, battery at 94% SOH, 21.5k euros."),
        (A, "Congratulations! Install a wallbox if you can; charging at home overnight makes an "
            "EV far cheaper than public chargers."),
    ]),
    ("backup3", "Hetzner storage box", "2026-03-07 11:05", [
        (U, "B2 egress for the test restore was slow and my bill is growing. Someone suggested a "
            "Hetzner Storage Box. Would restic work with it?"),
        (A, "Yes, restic talks to a Storage Box over SFTP (or rclone). A 5 TB box costs about "
            "13 euros a month with no egress fees, in a German or Finnish data centre."),
        (U, "Final decision: moving the restic repository from B2 to a Hetzner Storage Box "
            "BX21, SFTP, same retention. Cancelling B2 after the first full snapshot."),
        (A, "Copy the existing snapshots with restic copy so you keep the history, then check "
            "with restic check --read-data-subset 10%."),
    ]),
    ("job2", "Leaving Lumen", "2026-03-24 21:30", [
        (U, "I accepted an offer from Ondas, a climate-tech startup, as staff data engineer. "
            "I start on 4 May. How do I tell my manager at Lumen?"),
        (A, "Tell your manager first, in person or on a call, before anyone else; keep it "
            "short and grateful, give your notice in writing the same day and offer a "
            "handover plan for your pipelines."),
    ]),
    ("japan2", "Back from Japan", "2026-04-21 09:15", [
        (U, "Back from Japan last week. Kyoto was the highlight, especially Fushimi Inari at "
            "6am. Can you help me write a thank-you note to the ryokan in Kyoto?"),
        (A, "Dear Yoshida-san, thank you for your warm hospitality during our stay. The kaiseki "
            "dinner and the quiet garden in the morning were the highlight of our trip ..."),
    ]),
    ("run3", "Marathon plan", "2026-05-10 07:30", [
        (U, "Decided: my first marathon will be Porto on 8 November 2026. I'm running 35 km a "
            "week. 24-week plan please."),
        (A, "A 24-week plan from 35 km a week: build to 60-70 km over 16 weeks with one long "
            "run (up to 32 km), one workout (marathon-pace or threshold) and easy runs; then "
            "a three-week taper. Practise your race fuelling on every long run."),
    ]),
    ("db3", "DuckDB for reports", "2026-01-25 15:20", [
        (U, "Reports in the budget app are slow on Postgres (a few years of transactions). "
            "Should I move to DuckDB?"),
        (A, "Keep Postgres as the app's database: it handles concurrent writes and "
            "constraints. For analytics, query it from DuckDB with the postgres extension or "
            "export a Parquet snapshot nightly. Most slow reports just need an index on "
            "(account_id, booked_on)."),
        (U, "Adding the index made the monthly report 40x faster. Staying on Postgres."),
    ]),
    ("guitar1", "Aulas de guitarra", "2026-02-03 20:30", [
        (U, "Comecei aulas de guitarra clássica na semana passada, às terças em Arroios. Que "
            "exercícios devo fazer em casa?"),
        (A, "Quinze minutos por dia: escalas em Dó maior com a mão direita alternando i-m, "
            "o exercício de aranha para a mão esquerda e as peças do livro do professor, "
            "devagar e com metrónomo."),
    ]),
    ("mom1", "Cirurgia da mãe", "2025-11-18 22:05", [
        (U, "A minha mãe foi operada ao joelho na semana passada no Hospital de São João, "
            "correu bem. O que posso fazer para ajudar na recuperação à distância?"),
        (A, "Organize uma escala com os irmãos para as primeiras semanas, encomende online "
            "refeições e um banco de duche, e ligue-lhe todos os dias; a fisioterapia é o mais "
            "importante, ajude-a a não faltar."),
    ]),
    ("wedding1", "Toast for João's wedding", "2025-09-22 12:30", [
        (U, "My friend João got married last Saturday in Sintra and I gave a toast that "
            "went well. Now he asked me for the text for their album. Can you clean it up?"),
        (A, "Here is a tidied version of your toast, keeping your jokes about the Erasmus year "
            "in Ghent and the lost passport ..."),
    ]),
    ("diet1", "Vegetarian month", "2025-01-05 13:00", [
        (U, "New year resolution: a vegetarian January. Give me 5 quick dinners with enough "
            "protein."),
        (A, "Chickpea and spinach curry, tofu stir-fry with peanuts, lentil bolognese, "
            "black bean quesadillas with Greek yoghurt, and a frittata with feta and peas."),
    ]),
    ("diet2", "Eating fish again", "2025-02-15 19:10", [
        (U, "The vegetarian month went well but I missed fish. I'm going pescatarian from now "
            "on: no meat, fish twice a week. Any cheap fish recipes?"),
        (A, "Sardines on toast with tomato, hake in the oven with potatoes, mackerel with "
            "rice and lemon, and canned tuna with white beans and red onion."),
    ]),
    ("pao1", "Pão de queijo", "2025-11-29 16:00", [
        (U, "Receita de pão de queijo com polvilho azedo, para 20 unidades?"),
        (A, "500 g de polvilho azedo, 250 ml de leite, 125 ml de óleo, 1 colher de chá de sal, "
            "2 ovos e 200 g de queijo meia-cura ralado. Escalde o polvilho com o leite e o óleo "
            "a ferver, junte os ovos e o queijo, faça bolas e leve ao forno a 180 °C por 25 min."),
    ]),
    ("laptop1", "New laptop", "2025-08-30 10:45", [
        (U, "My personal laptop died. ThinkPad X1 Carbon or MacBook Air M3 for Python, Docker "
            "and some photo editing?"),
        (A, "The MacBook Air has the battery and screen; Docker runs in a VM on macOS, which is "
            "slower with many containers. The X1 Carbon runs Linux natively. What matters more?"),
        (U, "Actually I went for a Framework 13 with the Ryzen 7840U, 32 GB, running Fedora. "
            "Repairable and Docker is native."),
    ]),
    ("sql1", "window function running balance", "2025-09-15 14:10", [
        (U, "How do I compute a running balance per account in Postgres?"),
        (A, "SELECT account_id, booked_on, amount, SUM(amount) OVER (PARTITION BY account_id "
            "ORDER BY booked_on, id) AS balance FROM transactions; the id breaks ties between "
            "transactions on the same day."),
    ]),
    ("airflow1", "Airflow task stuck in queued", "2025-06-03 16:25", [
        (U, "At work our Airflow tasks stay in queued forever after the upgrade to 2.9."),
        (A, "Usually the scheduler and workers disagree: check that the Celery workers listen "
            "on the queue the tasks are sent to, that parallelism and pool slots are not "
            "exhausted, and the scheduler logs for 'not enough slots'."),
        (U, "It was the default pool: 128 slots all taken by sensors. Switched the sensors to "
            "mode='reschedule' and it's fine."),
    ]),
    ("dog2", "Biscoito at the vet", "2026-06-12 18:45", [
        (U, "Biscoito ate part of a sock yesterday. He seems fine, eating and playing. Should I "
            "worry?"),
        (A, "Watch for vomiting, a swollen or painful belly, no stools or lethargy in the next "
            "48-72 hours; if any appear, go to the vet at once, as a sock can block the gut."),
    ]),
    ("wallbox1", "Wallbox", "2026-07-08 20:20", [
        (U, "Our building in Arroios has a shared garage. Can I install a wallbox for the "
            "e-Niro?"),
        (A, "In Portugal the condominium cannot refuse a charger in your own parking space if "
            "you pay for it and tell the administration 30 days in advance; the installer "
            "certifies it with the grid operator."),
    ]),
    ("run4", "Marathon training check", "2026-09-14 07:10", [
        (U, "Week 18 of the Porto marathon plan. Did 30 km yesterday at 6:05/km, legs dead at "
            "the end. Am I on track for sub-4:30?"),
        (A, "A 30 km long run at 6:05/km eight weeks out is consistent with about 4:20-4:30. "
            "Do one more 32 km with the last 8 km at goal pace and practise fuelling."),
    ]),
    ("dtjson3", "datetime JSON error (continuação 3)", "2026-08-21 10:40", [
        (U, "Object of type datetime is not JSON serializable, this time with orjson? I thought "
            "orjson handled datetimes."),
        (A, "orjson does serialise datetime natively; the error means the standard json module "
            "is still doing the encoding somewhere, for example a library calling json.dumps. "
            "Check the traceback for json/encoder.py and pass default=str there."),
    ]),
    ("editor3", "Cursor or VS Code", "2026-09-30 21:00", [
        (U, "Everyone at Ondas uses Cursor. I'm on VS Code with vscode-neovim. Worth switching?"),
        (A, "Cursor is a VS Code fork, so your extensions and vscode-neovim carry over; the gain "
            "is its AI editing. Try it for a week on a real task."),
        (U, "Tried it for a week: switching to Cursor for work, with vscode-neovim. VS Code "
            "stays for personal stuff."),
    ]),
]
