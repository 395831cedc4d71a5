"""A minimal Django site (Debian's python3-django). Run: gunicorn-net --chdir samples/django mysite.wsgi"""
SECRET_KEY = "sample-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
USE_TZ = True
