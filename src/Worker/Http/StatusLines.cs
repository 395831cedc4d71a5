using System.Text;

namespace Gunicorn.Worker.Http;

/// <summary>Status lines (<c>404 Not Found</c>) for apps that give only the code (ASGI), with RFC 9110's reason phrases.</summary>
internal static class StatusLines
{
    private static readonly byte[]?[] Cache = new byte[]?[1000];

    /// <summary>The code and its reason phrase; a code without a registered phrase gets none (the phrase is optional).</summary>
    public static byte[] For(int code) => Cache[code] ??= Encoding.ASCII.GetBytes($"{code} {Reason(code)}");

    private static string Reason(int code) => code switch
    {
        100 => "Continue", 101 => "Switching Protocols", 103 => "Early Hints",
        200 => "OK", 201 => "Created", 202 => "Accepted", 203 => "Non-Authoritative Information", 204 => "No Content",
        205 => "Reset Content", 206 => "Partial Content", 207 => "Multi-Status",
        300 => "Multiple Choices", 301 => "Moved Permanently", 302 => "Found", 303 => "See Other", 304 => "Not Modified",
        307 => "Temporary Redirect", 308 => "Permanent Redirect",
        400 => "Bad Request", 401 => "Unauthorized", 402 => "Payment Required", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 406 => "Not Acceptable", 407 => "Proxy Authentication Required", 408 => "Request Timeout",
        409 => "Conflict", 410 => "Gone", 411 => "Length Required", 412 => "Precondition Failed", 413 => "Content Too Large",
        414 => "URI Too Long", 415 => "Unsupported Media Type", 416 => "Range Not Satisfiable", 417 => "Expectation Failed",
        421 => "Misdirected Request", 422 => "Unprocessable Content", 423 => "Locked", 424 => "Failed Dependency",
        425 => "Too Early", 426 => "Upgrade Required", 428 => "Precondition Required", 429 => "Too Many Requests",
        431 => "Request Header Fields Too Large", 451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error", 501 => "Not Implemented", 502 => "Bad Gateway", 503 => "Service Unavailable",
        504 => "Gateway Timeout", 505 => "HTTP Version Not Supported", 507 => "Insufficient Storage",
        511 => "Network Authentication Required",
        _ => "",
    };
}
