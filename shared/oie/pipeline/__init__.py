"""The event-driven side: classify requests from storage and Pub/Sub, record results."""
