"""The Workers AI binding: catalogue, validation, templates, engines, service, REST API."""
