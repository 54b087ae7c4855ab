using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Executor.EndToEndTests;

/// <summary>
/// A test's callback receiver on 127.0.0.1 (the stack allows exactly that address): records every POST with its
/// headers and body, and answers with the statuses it is given, in order (then 200); or, started hanging, records each
/// request as it arrives and answers none until it is released.
/// </summary>
public sealed class CallbackReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<int> _statuses;
    private readonly TaskCompletionSource? _hold;
    private readonly Task _serving;

    private CallbackReceiver(int port, IEnumerable<int> statuses, bool hang = false)
    {
        Port = port;
        _statuses = new ConcurrentQueue<int>(statuses);
        _hold = hang ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    /// <summary>The secret the services under test sign callbacks with (a stack's or an in-process service's setting).</summary>
    public const string Secret = "e2e-callback-secret-0123456789ab";

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hooks/executor";

    public ConcurrentQueue<Delivery> Deliveries { get; } = new();

    /// <summary>Whether to fail every attempt from now on, whatever the queue says (500).</summary>
    public bool Failing { get; set; }

    public static CallbackReceiver Start(params int[] statuses) => new(FreePort(), statuses);

    /// <summary>A receiver that never answers (until <see cref="Release"/>): what a hung or black-holed endpoint does.</summary>
    public static CallbackReceiver StartHanging() => new(FreePort(), [], hang: true);

    /// <summary>Lets a hanging receiver answer what it holds (200), and whatever comes later at once.</summary>
    public void Release() => _hold?.TrySetResult();

    public async Task<Delivery> WaitForAsync(Func<Delivery, bool> match, TimeSpan within)
    {
        using var deadline = new CancellationTokenSource(within);
        while (!Deliveries.Any(match))
        {
            await Task.Delay(100, deadline.Token);
        }
        return Deliveries.First(match);
    }

    /// <summary>
    /// Checks the delivery as a receiver would, with the Standard Webhooks library (the secret as receivers hold it:
    /// whsec_ and the base64 of its bytes): it verifies, its webhook-id is the session's, and a tampered body does not.
    /// The previous header, X-Executor-Signature (t=...,v1=hex HMAC-SHA256 of t.body), still checks too.
    /// </summary>
    public static void AssertSigned(Delivery delivery)
    {
        var receiver = new StandardWebhooks.StandardWebhook("whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes(Secret)));
        var headers = new Microsoft.AspNetCore.Http.HeaderDictionary(
            delivery.Headers.ToDictionary(h => h.Key, h => new Microsoft.Extensions.Primitives.StringValues(h.Value), StringComparer.OrdinalIgnoreCase));
        var body = Encoding.UTF8.GetString(delivery.Body);
        receiver.Verify(body, headers);
        Assert.Equal(delivery.Headers["X-Executor-Session"], delivery.Headers["webhook-id"]);
        Assert.ThrowsAny<Exception>(() => receiver.Verify(body.Replace("\"status\"", "\"statuz\"", StringComparison.Ordinal), headers));

        var parts = delivery.Headers["X-Executor-Signature"].Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var t = long.Parse(parts["t"], CultureInfo.InvariantCulture);
        var signed = Encoding.ASCII.GetBytes($"{t}.").Concat(delivery.Body).ToArray();
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), signed)), parts["v1"]);
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
            _ = Task.Run(() => AnswerAsync(context)); // one at a time would let a held request hold the others
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var status = _hold is not null ? 200 : Failing ? 500 : _statuses.TryDequeue(out var next) ? next : 200;
            Deliveries.Enqueue(new Delivery(
                DateTimeOffset.UtcNow, context.Request.HttpMethod, context.Request.Url!.AbsolutePath,
                context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase),
                body.ToArray(), status));
            if (_hold is not null)
            {
                await _hold.Task;
            }
            context.Response.StatusCode = status;
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
        {
            // The sender gave up (its attempt timed out) or the receiver stopped.
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
        Release();
        _listener.Stop();
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(5));
    }

    public sealed record Delivery(DateTimeOffset At, string Method, string Path, Dictionary<string, string> Headers, byte[] Body, int AnsweredWith);
}
