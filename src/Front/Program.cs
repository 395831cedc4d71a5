using Gunicorn.Backend.Platform;
using Gunicorn.Front.Cli;
using Gunicorn.Shared.Platform;

// Before anything starts the runtime's signal handling (see the method's comment).
Posix.UnignoreTerminationSignals();
FrontSocketEngine.EnableForMaster(); // before the first socket (see the class comment)

// The master: front tier + arbiter. Workers are the gunicorn-net-worker executable beside this one (WorkerContract).
return await GunicornCommand.RunAsync(args);
