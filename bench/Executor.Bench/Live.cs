using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// How soon a script's first byte reaches a live client: the script prints the wall clock (time.time(), the host's
/// clock: containers share the kernel's) and the client subtracts it from its own clock on arrival. Over SSE
/// (GET /result/{id}/events) and the WebSocket (GET /result/{id}/attach), through the gateway, with the client connected
/// before the script writes.
/// </summary>
public static class Live
{
    private const string Script = "import time\ntime.sleep(0.3)\nprint(repr(time.time()), flush=True)\ntime.sleep(0.2)\n";

    public static async Task<(Stats Sse, Stats WebSocket)> FirstByteAsync(Stack stack, int runs, string mode)
    {
        var sse = new List<double>();
        var socket = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            await stack.WaitForPoolAsync(2);
            sse.Add(await OverSseAsync(stack.Gateway));
            await stack.WaitForPoolAsync(2);
            socket.Add(await OverWebSocketAsync(stack.Gateway));
        }
        return (new Stats($"first byte to the client, SSE ({mode})", sse), new Stats($"first byte to the client, WebSocket ({mode})", socket));
    }

    private static async Task<string> SubmitAsync(HttpClient gateway)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(Script));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, "file", "main.py");
        using var response = await gateway.PostAsync("/execute", form);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
    }

    private static async Task<double> OverSseAsync(HttpClient gateway)
    {
        var sessionId = await SubmitAsync(gateway);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await gateway.GetAsync($"/result/{sessionId}/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(timeout.Token))
        {
            if (item.EventType == "stdout")
            {
                var arrived = DateTimeOffset.UtcNow;
                return Delay(JsonDocument.Parse(item.Data).RootElement.GetProperty("text").GetString()!, arrived);
            }
        }
        throw new InvalidOperationException("the stream ended without output");
    }

    private static async Task<double> OverWebSocketAsync(HttpClient gateway)
    {
        var sessionId = await SubmitAsync(gateway);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(new Uri(gateway.BaseAddress!, $"/result/{sessionId}/attach")) { Scheme = "ws" }.Uri, timeout.Token);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException("the socket closed without output");
            }
            var arrived = DateTimeOffset.UtcNow;
            var message = JsonDocument.Parse(buffer.AsMemory(0, received.Count)).RootElement;
            if (message.GetProperty("type").GetString() == "stdout")
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "measured", CancellationToken.None);
                return Delay(message.GetProperty("text").GetString()!, arrived);
            }
        }
    }

    private static double Delay(string printed, DateTimeOffset arrived)
    {
        var written = double.Parse(printed.Trim(), CultureInfo.InvariantCulture);
        return (arrived.ToUnixTimeMilliseconds() + arrived.Ticks % TimeSpan.TicksPerMillisecond / 10_000.0) - written * 1000;
    }
}
