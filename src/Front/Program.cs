using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Platform;
using Gunicorn.Backend.Workers;
using Gunicorn.Front.Cli;

// Before anything starts the runtime's signal handling (see the method's comment).
Posix.UnignoreTerminationSignals();

// One binary, two roles: the master (front tier + arbiter), or a worker it spawned (WorkerContract).
return WorkerContract.IsWorkerProcess
    ? await WorkerMain.RunAsync()
    : await GunicornCommand.RunAsync(args);
