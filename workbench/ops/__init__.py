"""Operations on a whole home: backups, restores, health checks."""
