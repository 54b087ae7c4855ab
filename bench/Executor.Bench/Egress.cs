using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// Egress on the embedded stack, its proxy allowed to one loopback address where the bench serves a fixed body: what
/// asking for egress costs a run that sends nothing, and the proxy's throughput. A run with egress always takes a cold
/// container (its proxy's directory is mounted when the container is created), so the same run without egress is
/// measured both warm and cold (a memory_mb other than the runtime's default takes no warm container). The throughput is
/// a 64 MiB download by urllib in the sandbox (the launcher's loopback relay, then the runner host's proxy) against the
/// host's python3 fetching it directly, each timed inside its own script.
/// </summary>
public static class Egress
{
    /// <summary>The bench's server: a loopback address of its own, which nothing else on the machine listens on.</summary>
    private static readonly IPAddress ServerAddress = IPAddress.Parse("127.0.0.3");

    /// <summary>The AppHost settings that let runs ask for the server (loopback is refused unless listed as allowed).</summary>
    public static readonly string[] Settings =
        [$"--Executor:EgressAllowedHosts={ServerAddress}:*", $"--Executor:EgressAllowedPrivateAddresses={ServerAddress}/32"];

    private const int BodyBytes = 64 << 20;

    private const int WarmUp = 3;

    /// <summary>Times the request and the read of the whole body in 1 MiB pieces (never all of it in the sandbox's memory at once).</summary>
    private const string Download =
        "import sys, time, urllib.request\n"
        + "buffer = bytearray(1 << 20)\n"
        + "received = 0\n"
        + "started = time.perf_counter()\n"
        + "with urllib.request.urlopen(sys.argv[1], timeout=30) as response:\n"
        + "    while (n := response.readinto(buffer)):\n"
        + "        received += n\n"
        + "print(received, time.perf_counter() - started)\n";

    public static async Task<EgressFigures> MeasureAsync(Stack stack, int runs, int downloads)
    {
        using var server = BodyServer.Start(ServerAddress, BodyBytes);
        var destination = $"{ServerAddress}:{server.Port}";

        Console.WriteLine("measuring egress: print(1) without egress (warm, cold) and with it ...");
        // The runtime's default memory, as a run that names none gets it: one more MiB takes no warm container.
        var defaultMemory = (await RunAsync(stack.Gateway, "print(1)\n")).Result.GetProperty("limits").GetProperty("memory_mb").GetInt32();
        var coldMemory = (defaultMemory + 1).ToString(CultureInfo.InvariantCulture);
        var kinds = new (string? MemoryMb, string? Egress, bool Warm)[] { (null, null, true), (coldMemory, null, false), (null, destination, false) };
        var samples = kinds.Select(_ => new List<double>()).ToArray();
        var missed = 0;
        for (var i = 0; i < WarmUp + runs; i++)
        {
            // Alternating, so that whatever else the machine does weighs on the three alike.
            for (var k = 0; k < kinds.Length; k++)
            {
                await stack.WaitForPoolAsync(2);
                await Task.Delay(200); // the previous run's container removal
                var (ms, result) = await RunAsync(stack.Gateway, "print(1)\n", kinds[k].MemoryMb, kinds[k].Egress);
                if (result.GetProperty("logs").GetString() != "1\n")
                {
                    throw new InvalidOperationException($"print(1) printed something else: {result}");
                }
                var ranWarm = result.GetProperty("warm_start").GetBoolean();
                if (ranWarm && !kinds[k].Warm)
                {
                    throw new InvalidOperationException($"a run meant to be cold ran warm: {result}");
                }
                missed += kinds[k].Warm && !ranWarm ? 1 : 0;
                if (kinds[k].Egress is not null && (!result.TryGetProperty("egress", out var connections) || connections.GetArrayLength() != 0))
                {
                    throw new InvalidOperationException($"a run with egress and no traffic should report no connection: {result}");
                }
                if (i >= WarmUp)
                {
                    samples[k].Add(ms);
                }
            }
        }
        if (missed > 0)
        {
            Console.WriteLine($"  note: {missed} of {WarmUp + runs} warm runs found no warm container");
        }

        Console.WriteLine($"measuring egress: {BodyBytes >> 20} MiB through the proxy and directly by host python3 ...");
        var url = $"http://{destination}/body";
        var proxied = new List<double>();
        var direct = new List<double>();
        var cpus = 0.0;
        for (var i = 0; i < downloads; i++)
        {
            await stack.WaitForPoolAsync(2);
            await Task.Delay(200);
            var (_, result) = await RunAsync(stack.Gateway, Download, egress: destination, timeoutSeconds: "60", args: url);
            var connections = result.GetProperty("egress");
            if (connections.GetArrayLength() != 1 || !connections[0].GetProperty("allowed").GetBoolean())
            {
                throw new InvalidOperationException($"the download did not go through the proxy: {result}");
            }
            proxied.Add(MibPerSecond(result.GetProperty("stdout").GetString()!));
            cpus = result.GetProperty("limits").GetProperty("cpus").GetDouble(); // the script and the launcher's relay share them
            direct.Add(MibPerSecond(await HostDownloadAsync(url)));
        }

        return new EgressFigures(
            new Stats("print(1) without egress, warm", samples[0]),
            new Stats($"print(1) without egress, cold (memory_mb={coldMemory}: no warm container)", samples[1]),
            new Stats($"print(1) with egress={ServerAddress}:PORT, no traffic (always cold)", samples[2]),
            new Stats($"{BodyBytes >> 20} MiB through the egress proxy (urllib in the sandbox, {cpus.ToString(CultureInfo.InvariantCulture)} CPU), MiB/s", proxied),
            new Stats($"{BodyBytes >> 20} MiB directly (host /usr/bin/python3, urllib, no proxy), MiB/s", direct));
    }

    private static async Task<(double Ms, JsonElement Result)> RunAsync(
        HttpClient gateway, string code, string? memoryMb = null, string? egress = null, string? timeoutSeconds = null, string? args = null)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(code));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, "file", "main.py");
        foreach (var (field, value) in new[] { ("memory_mb", memoryMb), ("egress", egress), ("timeout_seconds", timeoutSeconds), ("args", args) })
        {
            if (value is not null)
            {
                form.Add(new StringContent(value), field);
            }
        }
        var sw = Stopwatch.StartNew();
        using var response = await gateway.PostAsync("/execute?wait=true&wait_seconds=60", form);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK || result.GetProperty("status").GetString() != "completed")
        {
            throw new InvalidOperationException($"the run did not complete: {(int)response.StatusCode} {result}");
        }
        return (ms, result);
    }

    /// <summary>The same script run by the host's interpreter, with no proxy variable from the bench's environment.</summary>
    private static async Task<string> HostDownloadAsync(string url)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", ["-c", Download, url]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var variable in new[] { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy" })
        {
            start.Environment.Remove(variable);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"host python3 could not download the body: {await errors}");
        }
        return await output;
    }

    /// <summary>The script's "bytes seconds", checked to be the whole body.</summary>
    private static double MibPerSecond(string printed)
    {
        var parts = printed.Trim().Split(' ');
        var bytes = long.Parse(parts[0], CultureInfo.InvariantCulture);
        if (bytes != BodyBytes)
        {
            throw new InvalidOperationException($"the download received {bytes} bytes of {BodyBytes}");
        }
        return bytes / 1048576.0 / double.Parse(parts[1], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A minimal HTTP/1.1 server: whatever the request, one fixed body with its Content-Length, then the connection closes.
    /// </summary>
    private sealed class BodyServer : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stopping = new();
        private readonly byte[] _chunk = new byte[1 << 20];
        private readonly int _bodyBytes;

        private BodyServer(TcpListener listener, int bodyBytes)
        {
            _listener = listener;
            _bodyBytes = bodyBytes;
            Random.Shared.NextBytes(_chunk);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static BodyServer Start(IPAddress address, int bodyBytes)
        {
            var listener = new TcpListener(address, 0);
            listener.Start();
            var server = new BodyServer(listener, bodyBytes);
            _ = server.AcceptAsync();
            return server;
        }

        private async Task AcceptAsync()
        {
            while (!_stopping.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptSocketAsync(_stopping.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }
                _ = ServeAsync(client);
            }
        }

        private async Task ServeAsync(Socket client)
        {
            using var _ = client;
            await using var stream = new NetworkStream(client);
            try
            {
                // The request head, read to its blank line and ignored.
                var head = new byte[16 * 1024];
                var length = 0;
                while (length < head.Length && !Encoding.ASCII.GetString(head, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(head.AsMemory(length), _stopping.Token);
                    if (read == 0)
                    {
                        return;
                    }
                    length += read;
                }
                await stream.WriteAsync(Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {_bodyBytes}\r\nConnection: close\r\n\r\n"), _stopping.Token);
                for (var sent = 0; sent < _bodyBytes; sent += _chunk.Length)
                {
                    await stream.WriteAsync(_chunk.AsMemory(0, Math.Min(_chunk.Length, _bodyBytes - sent)), _stopping.Token);
                }
                client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // The client went away: its own side reports it.
            }
        }

        public void Dispose()
        {
            _stopping.Cancel();
            _listener.Stop();
            _stopping.Dispose();
        }
    }
}

public sealed record EgressFigures(Stats Warm, Stats Cold, Stats WithEgress, Stats Proxied, Stats Direct);
