using System.Text;

namespace Gunicorn.Front.Forwarding.Transport;

/// <summary>
/// The last value a connection's worker sent for each of a few common headers: a worker sends the same Server,
/// Content-Type and (within a second) Date on every response, so a value equal to the one before is handed out again
/// instead of being decoded into a new string per response. One per connection: used by one request at a time.
/// </summary>
internal sealed class HeaderValueCache
{
    private const int Slots = 8;

    private readonly string?[] _names = new string?[Slots];
    private readonly string?[] _values = new string?[Slots];
    private int _next;

    /// <summary>
    /// The value as a string: the cached one when <paramref name="name"/> is a known header's interned name and the
    /// bytes are the same ASCII as last time, a new string (then cached) otherwise.
    /// </summary>
    public string Get(string name, ReadOnlySpan<byte> value, bool knownName)
    {
        if (value.IsEmpty)
        {
            return "";
        }
        if (!knownName)
        {
            return Encoding.Latin1.GetString(value);
        }
        var slot = Array.IndexOf(_names, name);
        if (slot >= 0 && _values[slot] is { } cached && Ascii.Equals(value, cached))
        {
            return cached;
        }
        var decoded = Encoding.Latin1.GetString(value);
        if (slot < 0)
        {
            slot = _next;
            _next = (_next + 1) % Slots;
            _names[slot] = name;
        }
        _values[slot] = decoded;
        return decoded;
    }
}
