"""The alert outbox, its dispatcher, rendering and delivery channels."""
