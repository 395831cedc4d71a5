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


urlpatterns = [path("", index), path("form", form)]
