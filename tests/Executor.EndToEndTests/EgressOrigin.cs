using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Executor.EndToEndTests;

/// <summary>
/// A server the egress tests reach through the proxy, on a loopback address of its own (127.0.0.2, 127.0.0.3: never
/// the sandbox's own loopback, which is its container's): answers each HTTP/1.1 request from a table of paths, over
/// TLS when given a certificate, and keeps every request head it received.
/// </summary>
public sealed class EgressOrigin : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2? _certificate;
    private readonly Task _accepting;

    public EgressOrigin(IPAddress address, X509Certificate2? certificate = null)
    {
        _listener = new TcpListener(address, 0);
        _certificate = certificate;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPAddress Address => ((IPEndPoint)_listener.LocalEndpoint).Address;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>host:port, as a run names it in 'egress'.</summary>
    public string Destination => $"{Address}:{Port}";

    /// <summary>The answers by path: the body, or a length of zero bytes to send.</summary>
    public ConcurrentDictionary<string, (byte[] Body, long Length)> Paths { get; } = new();

    /// <summary>Every request head received, as text.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public void Serve(string path, string body) => Paths[path] = (Encoding.UTF8.GetBytes(body), -1);

    public void Serve(string path, byte[] body) => Paths[path] = (body, -1);

    public void ServeZeros(string path, long length) => Paths[path] = ([], length);

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
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        await ServeAsync(client.GetStream());
                    }
                    catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
                    {
                    }
                }
            });
        }
    }

    private async Task ServeAsync(Stream network)
    {
        Stream stream = network;
        if (_certificate is not null)
        {
            var tls = new SslStream(network);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate });
            stream = tls;
        }
        await using (stream)
        {
            var head = await ReadHeadAsync(stream);
            Requests.Enqueue(head);
            var path = head.Split(' ') is [_, var target, ..] ? target : "/";
            var (status, body, length) = Paths.TryGetValue(path, out var answer) ? ("200 OK", answer.Body, answer.Length) : ("404 Not Found", "no such path"u8.ToArray(), -1L);
            var size = length < 0 ? body.Length : length;
            var type = path.EndsWith('/') ? "text/html" : "application/octet-stream"; // an index page, or a file
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"));
            if (length < 0)
            {
                await stream.WriteAsync(body);
                return;
            }
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < length; sent += chunk.Length)
            {
                await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
            }
        }
    }

    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 32 * 1024 && await stream.ReadAsync(one) == 1)
        {
            head.Add(one[0]);
            if (head.Count >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
            {
                break;
            }
        }
        return Encoding.Latin1.GetString([.. head]);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _accepting;
        _certificate?.Dispose();
    }

    /// <summary>
    /// A wheel of one pure-Python module (<paramref name="module"/>, holding <c>VALUE = value</c>) and the simple index
    /// page that lists it, served at /simple/&lt;name&gt;/ and /files/&lt;wheel&gt;: what pip needs of a package index.
    /// </summary>
    public void ServePackage(string module, string value)
    {
        var version = "1.0";
        var distInfo = $"{module}-{version}.dist-info";
        var files = new List<(string Path, byte[] Content)>
        {
            ($"{module}/__init__.py", Encoding.UTF8.GetBytes($"VALUE = {System.Text.Json.JsonSerializer.Serialize(value)}\n")),
            ($"{distInfo}/METADATA", Encoding.UTF8.GetBytes($"Metadata-Version: 2.1\nName: {module.Replace('_', '-')}\nVersion: {version}\n")),
            ($"{distInfo}/WHEEL", "Wheel-Version: 1.0\nGenerator: executor-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"u8.ToArray()),
        };
        var record = new StringBuilder();
        foreach (var (path, content) in files)
        {
            record.Append($"{path},sha256={Convert.ToBase64String(SHA256.HashData(content)).TrimEnd('=').Replace('+', '-').Replace('/', '_')},{content.Length}\n");
        }
        record.Append($"{distInfo}/RECORD,,\n");
        files.Add(($"{distInfo}/RECORD", Encoding.UTF8.GetBytes(record.ToString())));
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                using var entry = zip.CreateEntry(path).Open();
                entry.Write(content);
            }
        }
        var wheel = $"{module}-{version}-py3-none-any.whl";
        var bytes = buffer.ToArray();
        Serve("/files/" + wheel, bytes);
        Serve($"/simple/{module.Replace('_', '-')}/",
            $"<!DOCTYPE html><html><body><a href=\"/files/{wheel}#sha256={Convert.ToHexStringLower(SHA256.HashData(bytes))}\">{wheel}</a></body></html>\n");
    }
}
