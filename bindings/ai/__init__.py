"""The Workers AI binding: catalogue, validation, chat templates, tasks, engines, service,
REST API."""
