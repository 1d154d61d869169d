"""A small JSON API over the Note model, plus the migration endpoint django-cf suggests
(protect it in a real deployment)."""

import json

from django.core.management import call_command
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from notes.models import Note


def index(request):
    return HttpResponse(f"Hello from Django on {request.get_host()}", content_type="text/plain")


@require_http_methods(["POST"])
def migrate(request):
    call_command("migrate", verbosity=0)
    return JsonResponse({"migrated": True})


@require_http_methods(["GET", "POST"])
def notes(request):
    if request.method == "POST":
        data = json.loads(request.body)
        note = Note.objects.create(title=data["title"], body=data.get("body", ""))
        return JsonResponse(note.as_dict(), status=201)
    return JsonResponse({"notes": sorted((n.as_dict() for n in Note.objects.all()),
                                         key=lambda n: n["id"])})


def note(request, note_id):
    found = Note.objects.filter(id=note_id).first()
    if found is None:
        return JsonResponse({"error": f"no note {note_id}"}, status=404)
    return JsonResponse(found.as_dict())


def stream(request):
    return StreamingHttpResponse((f"line {i}\n" for i in range(3)), content_type="text/plain")
