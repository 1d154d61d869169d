"""Django on a Python Worker: the WSGI app served by the runtime's adapter."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes_site.settings")

from django.core.wsgi import get_wsgi_application
from workers import WorkerEntrypoint, wsgi

application = get_wsgi_application()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await wsgi.fetch(application, request, self.env)
