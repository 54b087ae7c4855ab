using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Executor.EndToEndTests;

/// <summary>
/// A test's callback receiver on 127.0.0.1 (the stack allows exactly that address): records every POST with its
/// headers and body, and answers with the statuses it is given, in order (then 200).
/// </summary>
public sealed class CallbackReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<int> _statuses;
    private readonly Task _serving;

    private CallbackReceiver(int port, IEnumerable<int> statuses)
    {
        Port = port;
        _statuses = new ConcurrentQueue<int>(statuses);
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hooks/executor";

    public ConcurrentQueue<Delivery> Deliveries { get; } = new();

    /// <summary>Whether to fail every attempt from now on, whatever the queue says (500).</summary>
    public bool Failing { get; set; }

    public static CallbackReceiver Start(params int[] statuses) => new(FreePort(), statuses);

    public async Task<Delivery> WaitForAsync(Func<Delivery, bool> match, TimeSpan within)
    {
        using var deadline = new CancellationTokenSource(within);
        while (!Deliveries.Any(match))
        {
            await Task.Delay(100, deadline.Token);
        }
        return Deliveries.First(match);
    }

    /// <summary>Checks X-Executor-Signature as a receiver would: t=...,v1=hex(HMAC-SHA256(secret, t + "." + body)).</summary>
    public static void AssertSigned(Delivery delivery)
    {
        var parts = delivery.Headers["X-Executor-Signature"].Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var t = long.Parse(parts["t"], CultureInfo.InvariantCulture);
        var signed = Encoding.ASCII.GetBytes($"{t}.").Concat(delivery.Body).ToArray();
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(StackFixture.CallbackSecret), signed));
        Assert.Equal(expected, parts["v1"]);
        Assert.InRange(DateTimeOffset.FromUnixTimeSeconds(t), delivery.At.AddMinutes(-5), delivery.At.AddMinutes(5));
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var status = Failing ? 500 : _statuses.TryDequeue(out var next) ? next : 200;
            Deliveries.Enqueue(new Delivery(
                DateTimeOffset.UtcNow, context.Request.HttpMethod, context.Request.Url!.AbsolutePath,
                context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase),
                body.ToArray(), status));
            context.Response.StatusCode = status;
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
    }

    public sealed record Delivery(DateTimeOffset At, string Method, string Path, Dictionary<string, string> Headers, byte[] Body, int AnsweredWith);
}
