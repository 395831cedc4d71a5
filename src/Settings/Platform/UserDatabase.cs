using System.Globalization;
using System.Runtime.InteropServices;

namespace Gunicorn.Settings.Platform;

/// <summary>Looks up users and groups through libc (so NSS sources such as LDAP count), by name or number.</summary>
public static partial class UserDatabase
{
    public sealed record User(string Name, uint Uid, uint Gid);

    public static User? FindUser(string nameOrId)
    {
        var entry = uint.TryParse(nameOrId, NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
            ? GetPwUid(uid)
            : GetPwNam(nameOrId);
        if (entry == 0)
        {
            return null;
        }
        // struct passwd (glibc, 64-bit): char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ...
        var name = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(entry, 0)) ?? nameOrId;
        return new User(name, (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size), (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size + 4));
    }

    public static uint? FindGroup(string nameOrId)
    {
        if (uint.TryParse(nameOrId, NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
        {
            return gid;
        }
        var entry = GetGrNam(nameOrId);
        // struct group: char *gr_name; char *gr_passwd; gid_t gr_gid; ...
        return entry == 0 ? null : (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
    }

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetPwNam(string name);

    [LibraryImport("libc", EntryPoint = "getpwuid")]
    private static partial nint GetPwUid(uint uid);

    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetGrNam(string name);
}
