using Gunicorn.Shared.Platform;
using Gunicorn.Worker.Hosting;

// Before anything starts the runtime's signal handling (see the method's comment).
Posix.UnignoreTerminationSignals();
return WorkerMain.Run();
