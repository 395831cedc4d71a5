import asyncio

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("<h1>Django on gunicorn-net</h1>")


@csrf_exempt
def form(request):
    if request.method == "POST":
        return HttpResponse("Hello, %s!" % request.POST.get("name", "stranger"))
    return HttpResponse('<form method="post"><input name="name"><button>Send</button></form>')


async def hello_async(request):
    """An async view: served on the event loop under `-k asgi mysite.asgi`, in a thread adapter under WSGI."""
    await asyncio.sleep(0)
    return HttpResponse("async hello over %s" % ("ASGI" if hasattr(request, "scope") else "WSGI"))


urlpatterns = [path("", index), path("form", form), path("async", hello_async)]
