using Gunicorn.Front.Cli;

return await GunicornCommand.RunAsync(args);
