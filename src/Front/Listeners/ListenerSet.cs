using System.Net;
using System.Net.Sockets;
using Gunicorn.Backend.Platform;
using Gunicorn.Shared.Platform;
using Gunicorn.Settings.Types;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// The master's listening sockets, one per <c>bind</c> (or per systemd socket), owned here rather than by Kestrel so
/// that they outlive a front generation: each generation of the front gets its own duplicate of every descriptor, so
/// during a reload the old and the new generation accept from the same queue and no connection waiting in the
/// backlog is lost. A reload that changes <c>bind</c> opens the new sockets first and closes the dropped ones only
/// after the generation using them has drained.
/// </summary>
public sealed class ListenerSet : IDisposable
{
    /// <summary>One listening socket: the bind it serves, its descriptor and the address operators read in the log.</summary>
    public sealed record Listener(string Key, int Fd, string Address, Socket? Owned, string? UnixPath = null, DateTime UnixBoundAt = default);

    private readonly Dictionary<string, Listener> _listeners = [];

    public IReadOnlyCollection<Listener> Current => _listeners.Values;

    /// <summary>
    /// Where the sockets came from when they were inherited (systemd, or the old master on USR2); <c>bind</c> is then
    /// ignored, on reloads too. Null when this master opened them.
    /// </summary>
    public string? InheritedFrom { get; private set; }

    private bool _handedOver;

    public void Adopt(IReadOnlyList<int> fds, string source)
    {
        InheritedFrom = fds.Count > 0 ? source : null;
        foreach (var fd in fds)
        {
            _listeners[$"fd://{fd}"] = new Listener($"fd://{fd}", fd, Describe(fd), null);
        }
    }

    /// <summary>
    /// USR2: descriptors of every socket that the next program started inherits. From now on the sockets are shared
    /// with the new master: closing them here must not remove Unix socket files it still listens on.
    /// </summary>
    public IReadOnlyList<int> DuplicateForNewMaster()
    {
        _handedOver = true;
        return _listeners.Values.Select(l => Posix.DupInheritable(l.Fd)).ToList();
    }

    /// <summary>What a new <c>bind</c> list changes: sockets opened for it, the full set it wants, and those it drops.</summary>
    public sealed record Change(IReadOnlyList<Listener> Opened, IReadOnlyList<Listener> Wanted, IReadOnlyList<Listener> Dropped);

    /// <summary>
    /// Opens the sockets <paramref name="binds"/> adds (all or nothing: on error, what was opened is closed again)
    /// without changing the set; <see cref="Commit"/> or <see cref="Abort"/> the result.
    /// </summary>
    /// <exception cref="IOException">A new bind could not be opened (address in use, permission, bad path).</exception>
    /// <param name="reusePort">reuse_port: SO_REUSEPORT on new TCP listeners.</param>
    public Change Prepare(IReadOnlyList<BindAddress> binds, int backlog, bool reusePort = false)
    {
        if (InheritedFrom is not null)
        {
            return new Change([], _listeners.Values.ToList(), []);
        }
        var wanted = binds.Select(b => b.ToString()).Distinct().ToList();
        var opened = new List<Listener>();
        try
        {
            foreach (var bind in binds.Where(b => !_listeners.ContainsKey(b.ToString())).DistinctBy(b => b.ToString()))
            {
                opened.Add(Open(bind.ToString(), bind, backlog, reusePort));
            }
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            // The binds that did open are closed, and their socket files removed: a failed reload leaves nothing.
            opened.ForEach(Close);
            throw new IOException($"{e.Message}", e);
        }
        var byKey = _listeners.Values.Concat(opened).ToDictionary(l => l.Key);
        return new Change(opened, wanted.Select(k => byKey[k]).ToList(), _listeners.Values.Where(l => !wanted.Contains(l.Key)).ToList());
    }

    /// <summary>The change is in use: the set is now what it wanted (dropped sockets are the caller's to close).</summary>
    public void Commit(Change change)
    {
        _listeners.Clear();
        foreach (var listener in change.Wanted)
        {
            _listeners[listener.Key] = listener;
        }
    }

    /// <summary>The change was not used: the sockets it opened are closed.</summary>
    public void Abort(Change change)
    {
        foreach (var listener in change.Opened)
        {
            Close(listener);
        }
    }

    public void Close(Listener listener)
    {
        listener.Owned?.Dispose();
        if (listener.UnixPath is { } path && !_handedOver)
        {
            UnixSocketFile.RemoveIfOurs(path, listener.UnixBoundAt);
        }
    }

    /// <summary>SOL_SOCKET, SO_REUSEADDR and SO_REUSEPORT on Linux.</summary>
    internal const int SolSocket = 1, SoReuseAddr = 2, SoReusePort = 15;

    private static Listener Open(string key, BindAddress bind, int backlog, bool reusePort)
    {
        if (bind.Kind == BindKind.FileDescriptor)
        {
            return new Listener(key, bind.Fd, Describe(bind.Fd), null);
        }
        Socket socket;
        if (bind.Kind == BindKind.Unix)
        {
            RefuseIfInUse(bind.Path);
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                var boundAt = UnixSocketFile.BindAndListen(socket, bind.Path, backlog);
                return new Listener(key, (int)socket.Handle, $"unix:{bind.Path}", socket, bind.Path, boundAt);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        var address = ResolveHost(bind.Host);
        socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.Equals(IPAddress.IPv6Any))
        {
            socket.DualMode = true;
        }
        try
        {
            // SO_REUSEADDR itself: .NET's ReuseAddress also sets SO_REUSEPORT on Linux, which would let a second
            // server bind this port beside us and take half its connections instead of failing "in use".
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            if (reusePort)
            {
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            }
            Bind(socket, new IPEndPoint(address, bind.Port), backlog);
            return new Listener(key, (int)socket.Handle, Describe((IPEndPoint)socket.LocalEndPoint!), socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A socket file left by a server that died is replaced, as gunicorn does; one that a live server still accepts on
    /// is not: "address in use".
    /// </summary>
    private static void RefuseIfInUse(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            return; // nobody listens: stale, or not a socket (the rename into place then fails clearly)
        }
        throw new IOException($"unix:{path} is in use by another server");
    }

    private static void Bind(Socket socket, EndPoint endpoint, int backlog)
    {
        try
        {
            socket.Bind(endpoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static IPAddress ResolveHost(string host) =>
        host == "localhost" ? IPAddress.Loopback
        : IPAddress.TryParse(host, out var address) ? address
        : Dns.GetHostAddresses(host).First();

    /// <summary>IPPROTO_TCP, TCP_INFO, and where struct tcp_info keeps tcpi_unacked (for a listening socket: the
    /// connections waiting in its accept queue).</summary>
    private const int IpProtoTcp = 6, TcpInfo = 11, TcpiUnackedOffset = 24;

    /// <summary>
    /// Connections the kernel has completed and no one has accepted yet, over every TCP listener (gunicorn's
    /// enable_backlog_metric reads the same TCP_INFO field). Unix sockets have no such counter and count 0.
    /// </summary>
    public int Backlog()
    {
        var total = 0;
        Span<byte> info = stackalloc byte[104];
        Listener[] listeners;
        try
        {
            listeners = [.. _listeners.Values];
        }
        catch (InvalidOperationException)
        {
            return 0; // a reload is changing the set this very moment; the next reading counts
        }
        foreach (var listener in listeners)
        {
            if (listener.UnixPath is not null || listener.Address.StartsWith("unix:", StringComparison.Ordinal))
            {
                continue;
            }
            try
            {
                using var view = new Socket(new SafeSocketHandle(listener.Fd, ownsHandle: false));
                if (view.GetRawSocketOption(IpProtoTcp, TcpInfo, info) >= TcpiUnackedOffset + 4)
                {
                    total += System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(info[TcpiUnackedOffset..]);
                }
            }
            catch (SocketException)
            {
                // Not a TCP socket (an inherited descriptor of another kind).
            }
        }
        return total;
    }

    /// <summary>The bound address of an inherited descriptor (e.g. port 0 made real), without taking ownership.</summary>
    private static string Describe(int fd)
    {
        using var view = new Socket(new SafeSocketHandle(fd, ownsHandle: false));
        return view.LocalEndPoint switch
        {
            IPEndPoint ip => Describe(ip),
            UnixDomainSocketEndPoint unix => $"unix:{unix}",
            var other => $"fd://{fd} ({other})",
        };
    }

    private static string Describe(IPEndPoint endpoint) =>
        endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : $"{endpoint.Address}:{endpoint.Port}";

    public void Dispose()
    {
        foreach (var listener in _listeners.Values)
        {
            Close(listener);
        }
        _listeners.Clear();
    }
}
