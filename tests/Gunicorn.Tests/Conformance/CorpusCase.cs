using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gunicorn.Tests.Infrastructure;

namespace Gunicorn.Tests.Conformance;

/// <summary>One case of the shared gunicorn request corpus: the bytes to send and the outcome expected.</summary>
public sealed record CorpusCase(
    string Name,
    string Kind,
    string? Error,
    IReadOnlyDictionary<string, JsonElement> Settings,
    IReadOnlyList<ExpectedRequest> Requests)
{
    public static readonly string Folder = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "conformance", "gunicorn-requests"));

    public bool IsValid => Kind == "valid";

    public byte[] Bytes() => Decode(File.ReadAllBytes(Path.Combine(Folder, Name + ".http")));

    public override string ToString() => Name;

    /// <summary>The corpus README's decoding: drop newlines, then \r\n, \0, \n, \t and \xHH escapes.</summary>
    public static byte[] Decode(byte[] raw)
    {
        var bytes = raw.Where(b => b != (byte)'\n').ToArray();
        var output = new List<byte>(bytes.Length);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == '\\' && i + 1 < bytes.Length)
            {
                switch ((char)bytes[i + 1])
                {
                    case 'r' when i + 3 < bytes.Length && bytes[i + 2] == '\\' && bytes[i + 3] == 'n':
                        output.Add((byte)'\r');
                        output.Add((byte)'\n');
                        i += 3;
                        continue;
                    case '0':
                        output.Add(0);
                        i += 1;
                        continue;
                    case 'n':
                        output.Add((byte)'\n');
                        i += 1;
                        continue;
                    case 't':
                        output.Add((byte)'\t');
                        i += 1;
                        continue;
                    case 'x' when i + 3 < bytes.Length:
                        output.Add(Convert.ToByte(Encoding.ASCII.GetString(bytes, i + 2, 2), 16));
                        i += 3;
                        continue;
                }
            }
            output.Add(bytes[i]);
        }
        return output.ToArray();
    }

    /// <summary>All cases, read through corpus_to_json.py (the expected outcomes are Python literals).</summary>
    public static readonly Lazy<IReadOnlyList<CorpusCase>> All = new(Load);

    private static IReadOnlyList<CorpusCase> Load()
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Conformance", "corpus_to_json.py"));
        start.ArgumentList.Add(Folder);
        using var process = Process.Start(start)!;
        var json = process.StandardOutput.ReadToEnd();
        var errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"corpus_to_json.py failed: {errors}");
        }
        return JsonSerializer.Deserialize<List<CorpusCase>>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }
}

public sealed record ExpectedRequest(
    string Method,
    string Uri,
    IReadOnlyList<int> Version,
    IReadOnlyList<IReadOnlyList<string>> Headers,
    string Body,
    IReadOnlyList<IReadOnlyList<string>> Trailers);
