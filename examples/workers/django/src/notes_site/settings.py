"""Settings: the D1 binding `DB` is the default database (django-cf's d1_binding engine)."""

SECRET_KEY = "edge-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "notes_site.urls"
INSTALLED_APPS = ["notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django_cf.d1_binding",
        "CLOUDFLARE_BINDING": "DB",
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
