"""What every app stands on (ARCHITECTURE.md, Layout)."""
