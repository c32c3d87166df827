import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("Hello from Django!\n", content_type="text/plain")


@csrf_exempt
def echo(request):
    return JsonResponse(
        {"method": request.method, "post": request.POST.dict(), "path": request.path}
    )


@csrf_exempt
def json_echo(request):
    return JsonResponse({"received": json.loads(request.body)})
