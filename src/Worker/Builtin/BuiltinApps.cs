using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gunicorn.Shared.Contract;
using Gunicorn.Shared.Logging;
using Gunicorn.Worker.Http;
using Gunicorn.Worker.Server;

namespace Gunicorn.Worker.Builtin;

/// <summary>
/// Apps compiled into the worker, named with '@' (never a valid Python module): <c>@hello</c>, the default, answers
/// every request with a greeting; <c>@echo</c> is a diagnostic app (echo, sleep, pid) for trying a deployment and for
/// the integration tests: <c>/pid</c>, <c>/env?name=</c>, <c>/bytes?count=</c>, <c>/print?text=</c> (to stdout),
/// <c>/sleep?seconds=</c>, and anything else echoed back as JSON. Not for production traffic.
/// </summary>
internal static class BuiltinApps
{
    /// <summary>The handler for a built-in app; null when no built-in app has that name.</summary>
    public static IRequestHandler? Find(string name) => name switch
    {
        WorkerContract.HelloApp => new Hello(),
        WorkerContract.EchoApp => new Echo(),
        _ => null,
    };

    private sealed class Hello : IRequestHandler
    {
        private readonly byte[] _greeting = Encoding.ASCII.GetBytes($"Hello from gunicorn-net (worker pid {Environment.ProcessId})\n");

        public void Serve(Http1Connection connection, ResponseWriter response) =>
            Respond(response, "200 OK"u8, "text/plain; charset=utf-8"u8, _greeting);
    }

    private sealed class Echo : IRequestHandler
    {
        public void Serve(Http1Connection connection, ResponseWriter response)
        {
            var request = connection.Request;
            var target = request.TargetText;
            var question = target.IndexOf('?');
            var path = question < 0 ? target : target[..question];
            var query = question < 0 ? "" : target[(question + 1)..];
            var get = request[request.Method].SequenceEqual("GET"u8);
            switch (path)
            {
                case "/pid" when get:
                    Text(response, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                    return;
                case "/env" when get:
                    Text(response, Environment.GetEnvironmentVariable(Parameter(query, "name") ?? "") ?? "");
                    return;
                case "/bytes" when get:
                    var count = int.Parse(Parameter(query, "count") ?? "0", CultureInfo.InvariantCulture);
                    Respond(response, "200 OK"u8, "application/octet-stream"u8, new byte[count]);
                    return;
                case "/print" when get:
                    Console.Out.WriteLine(Parameter(query, "text"));
                    Console.Out.Flush();
                    Text(response, "printed\n");
                    return;
                case "/sleep" when get || request[request.Method].SequenceEqual("POST"u8):
                    var seconds = double.Parse(Parameter(query, "seconds") ?? "0", CultureInfo.InvariantCulture);
                    ErrorLog.Debug($"Sleeping {seconds} s");
                    Thread.Sleep(TimeSpan.FromSeconds(seconds));
                    Text(response, $"slept {seconds}s in {Environment.ProcessId}\n");
                    return;
                default:
                    EchoRequest(connection, response, path, query);
                    return;
            }
        }

        /// <summary>The request as JSON: method, path, raw target, query, headers in order, body in base64.</summary>
        private static void EchoRequest(Http1Connection connection, ResponseWriter response, string path, string query)
        {
            var request = connection.Request;
            using var body = new MemoryStream();
            var block = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                int read;
                while ((read = connection.Body.Read(block)) > 0)
                {
                    body.Write(block, 0, read);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(block);
            }
            var json = new ArrayBufferWriter<byte>(1024);
            using (var writer = new Utf8JsonWriter(json))
            {
                writer.WriteStartObject();
                writer.WriteNumber("pid", Environment.ProcessId);
                writer.WriteString("method", request.MethodText);
                writer.WriteString("path", Uri.UnescapeDataString(path));
                writer.WriteString("rawTarget", request.TargetText);
                writer.WriteString("query", query.Length > 0 ? "?" + query : "");
                writer.WriteStartArray("headers");
                foreach (var (name, value) in request.Headers)
                {
                    if (Ascii.EqualsIgnoreCase(request[name], Encoding.ASCII.GetBytes(WorkerContract.PeerHeader)))
                    {
                        continue;
                    }
                    writer.WriteStartArray();
                    writer.WriteStringValue(Encoding.Latin1.GetString(request[name]));
                    writer.WriteStringValue(Encoding.Latin1.GetString(request[value]));
                    writer.WriteEndArray();
                }
                writer.WriteEndArray();
                writer.WriteBase64String("body", body.GetBuffer().AsSpan(0, (int)body.Length));
                writer.WriteEndObject();
            }
            Respond(response, "200 OK"u8, "application/json"u8, json.WrittenSpan);
        }

        private static string? Parameter(string query, string name)
        {
            foreach (var pair in query.Split('&'))
            {
                var equals = pair.IndexOf('=');
                if (equals > 0 && pair[..equals] == name)
                {
                    return Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
                }
            }
            return null;
        }

        private static void Text(ResponseWriter response, string text) =>
            Respond(response, "200 OK"u8, "text/plain; charset=utf-8"u8, Encoding.UTF8.GetBytes(text));
    }

    private static unsafe void Respond(ResponseWriter response, ReadOnlySpan<byte> status, ReadOnlySpan<byte> contentType, ReadOnlySpan<byte> body)
    {
        response.Start(status);
        response.AddHeader("Content-Type"u8, contentType);
        fixed (byte* p = body)
        {
            response.WriteComplete([new Syscalls.IoVec { Base = p, Length = (nuint)body.Length }]);
        }
    }
}
