using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Executor.Runner.Egress;

namespace Executor.UnitTests.Egress;

/// <summary>A destination for the egress proxy's tests on 127.0.0.1: echoes bytes, or answers one HTTP request (over TLS when given a certificate).</summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<Stream, Task> _serve;
    private readonly X509Certificate2? _certificate;
    private readonly Task _accepting;
    private int _accepted;

    private LoopbackServer(Func<Stream, Task> serve, X509Certificate2? certificate)
    {
        _serve = serve;
        _certificate = certificate;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>The request heads the server received, as text.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static LoopbackServer Echo() => new(async s => await s.CopyToAsync(s), null);

    /// <summary>Answers each request with <paramref name="body"/>, or with <paramref name="length"/> zero bytes.</summary>
    public static LoopbackServer Http(string body = "ok", long length = -1, X509Certificate2? certificate = null)
    {
        LoopbackServer? server = null;
        server = new(async s =>
        {
            var (head, _) = await HttpRequestHead.ReadAsync(s, CancellationToken.None);
            server!.Requests.Enqueue(head is null ? "" : Encoding.Latin1.GetString(head.Serialize(head.Target)));
            var content = length < 0 ? Encoding.UTF8.GetBytes(body) : [];
            var size = length < 0 ? content.Length : length;
            await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"));
            if (length < 0)
            {
                await s.WriteAsync(content);
                return;
            }
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < length; sent += chunk.Length)
            {
                await s.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
            }
        }, certificate);
        return server;
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        Stream stream = client.GetStream();
                        if (_certificate is not null)
                        {
                            var tls = new SslStream(stream);
                            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate });
                            stream = tls;
                        }
                        await using (stream)
                        {
                            await _serve(stream);
                        }
                    }
                    catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
                    {
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _accepting;
    }
}
