using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gunicorn.Settings.Records;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gunicorn.Front.Listeners;

/// <summary>
/// TLS and HTTP versions for a TCP listener: certfile/keyfile (PEM), TLS 1.2 and 1.3 only, client certificates per
/// cert_reqs against ca_certs, and http_protocols (h1, h2; negotiated by ALPN with TLS, cleartext h2 when h2 is the
/// only protocol).
/// </summary>
public static class TlsSetup
{
    public static void Apply(ListenOptions listen, ListenerConfig listeners)
    {
        var h1 = listeners.HttpProtocols.Contains("h1");
        var h2 = listeners.HttpProtocols.Contains("h2");
        listen.Protocols = (h1, h2) switch
        {
            // Without TLS there is no ALPN to choose by: HTTP/2 needs prior knowledge (http2_cleartext).
            (true, true) => listeners.Tls.Enabled ? HttpProtocols.Http1AndHttp2
                : listeners.Http2.CleartextPriorKnowledge ? HttpProtocols.Http2 : HttpProtocols.Http1,
            (false, true) => HttpProtocols.Http2,
            _ => HttpProtocols.Http1,
        };
        if (!listeners.Tls.Enabled)
        {
            return;
        }
        var tls = listeners.Tls;
        var certificate = X509Certificate2.CreateFromPemFile(tls.CertFile!, tls.KeyFile);
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            SslProtocols = tls.SslVersion switch
            {
                "TLSv1_2" => SslProtocols.Tls12,
                "TLSv1_3" => SslProtocols.Tls13,
                _ => SslProtocols.Tls12 | SslProtocols.Tls13,
            },
            OnAuthenticate = (_, options) => options.CipherSuitesPolicy = CipherPolicy(tls.Ciphers),
            ClientCertificateMode = tls.CertReqs switch
            {
                2 => ClientCertificateMode.RequireCertificate,
                1 => ClientCertificateMode.AllowCertificate,
                _ => ClientCertificateMode.NoCertificate,
            },
            ClientCertificateValidation = tls.CaCerts is null ? null : ValidatorFor(tls.CaCerts),
        });
    }

    /// <summary>AEAD suites only by default (testssl.sh flags CBC); otherwise the configured IANA names.</summary>
    private static CipherSuitesPolicy CipherPolicy(string? ciphers) => new(ciphers is null
        ?
        [
            TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
        : ciphers.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(n => Enum.Parse<TlsCipherSuite>(n.Trim())));

    /// <summary>Accepts client certificates that chain to one of the CAs in ca_certs.</summary>
    private static Func<X509Certificate2, X509Chain?, System.Net.Security.SslPolicyErrors, bool> ValidatorFor(string caFile)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(caFile);
        return (certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    }
}
