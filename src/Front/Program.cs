using Gunicorn.Backend.Contract;
using Gunicorn.Backend.Workers;
using Gunicorn.Front.Cli;

// One binary, two roles: the master (front tier + arbiter), or a worker it spawned (WorkerContract).
return WorkerContract.IsWorkerProcess
    ? await WorkerMain.RunAsync()
    : await GunicornCommand.RunAsync(args);
