using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Platform;
using Gunicorn.Backend.Workers;
using Gunicorn.Front.Cli;

// Before anything starts the runtime's signal handling (see the method's comment).
Posix.UnignoreTerminationSignals();

if (!WorkerContract.IsWorkerProcess)
{
    InlineSocketCompletions.EnableForMaster(); // before the first socket (see the class comment)
}

// One binary, two roles: the master (front tier + arbiter), or a worker it spawned (WorkerContract).
return WorkerContract.IsWorkerProcess
    ? await WorkerMain.RunAsync()
    : await GunicornCommand.RunAsync(args);
