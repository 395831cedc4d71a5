using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Gunicorn.Settings.Registry;

namespace Gunicorn.Settings.Types;

public enum BindKind { Tcp, Unix, FileDescriptor }

/// <summary>One listener address in gunicorn's syntax: <c>HOST:PORT</c>, <c>[::1]:PORT</c>, <c>unix:PATH</c> or <c>fd://N</c>.</summary>
public sealed record BindAddress(BindKind Kind, string Host = "", int Port = 0, string Path = "", int Fd = -1)
{
    /// <summary>gunicorn's port when a bind names only a host.</summary>
    public const int DefaultPort = 8000;

    public override string ToString() => Kind switch
    {
        BindKind.Unix => $"unix:{Path}",
        BindKind.FileDescriptor => $"fd://{Fd}",
        _ => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}",
    };

    public static BindAddress Parse(string text)
    {
        const string Fix = "Use HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N.";
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            return path.Length > 0 ? new BindAddress(BindKind.Unix, Path: path)
                : throw new SettingValueException($"\"{text}\" names no socket path. {Fix}");
        }
        if (text.StartsWith("fd://", StringComparison.Ordinal))
        {
            return int.TryParse(text["fd://".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var fd)
                ? new BindAddress(BindKind.FileDescriptor, Fd: fd)
                : throw new SettingValueException($"\"{text}\" is not a file descriptor number. {Fix}");
        }
        string host;
        string? portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0)
            {
                throw new SettingValueException($"\"{text}\" has no closing ']'. {Fix}");
            }
            host = text[1..close];
            var rest = text[(close + 1)..];
            portText = rest.Length == 0 ? null : rest.StartsWith(':') ? rest[1..] : throw new SettingValueException($"\"{text}\" is not a valid address. {Fix}");
            if (!IPAddress.TryParse(host, out _))
            {
                throw new SettingValueException($"\"{host}\" in \"{text}\" is not an IPv6 address. {Fix}");
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            host = colon < 0 ? text : text[..colon];
            portText = colon < 0 ? null : text[(colon + 1)..];
            if (host.Contains(':'))
            {
                throw new SettingValueException($"\"{text}\" looks like an IPv6 address without brackets. Write [{host}]:{portText}.");
            }
        }
        if (host.Length == 0)
        {
            host = "0.0.0.0";
        }
        var port = DefaultPort;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new SettingValueException($"\"{portText}\" in \"{text}\" is not a port number (0-65535). {Fix}");
        }
        return new BindAddress(BindKind.Tcp, Host: host, Port: port);
    }

    public static readonly ValueType<IReadOnlyList<BindAddress>> ListType = new(
        "list of addresses",
        node => Expect.ScalarList(node, "an address").Select(ParseItem).ToList(),
        list => Yaml.List(list.Select(b => Yaml.Scalar(b.ToString()))),
        () => new JsonObject
        {
            ["type"] = new JsonArray("array", "string"),
            ["items"] = new JsonObject { ["type"] = "string" },
        });

    /// <summary>One address or null (off), e.g. <c>metrics_bind</c>.</summary>
    public static readonly ValueType<BindAddress?> OptionalType = new(
        "address or null",
        node => node is ScalarNode { IsNull: true } ? null : ParseItem(Expect.Scalar(node, "an address")),
        b => b is null ? "null" : Yaml.Scalar(b.ToString()),
        () => new JsonObject { ["type"] = new JsonArray("string", "null") });

    private static BindAddress ParseItem(ScalarNode scalar)
    {
        try
        {
            return Parse(scalar.Text);
        }
        catch (SettingValueException e)
        {
            throw new SettingValueException(e.Message, scalar);
        }
    }
}
