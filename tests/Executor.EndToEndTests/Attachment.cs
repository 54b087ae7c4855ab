using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>A test's WebSocket to GET /result/{id}/attach: JSON messages in, text out.</summary>
public sealed class Attachment : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _deadline = new(ExecutorApi.ResultDeadline);

    public List<JsonElement> Received { get; } = [];

    public WebSocketState State => _socket.State;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public static async Task<Attachment> ConnectAsync(HttpClient client, string sessionId, string? key = null)
    {
        var attachment = new Attachment();
        if (key is not null)
        {
            attachment._socket.Options.SetRequestHeader("Authorization", $"Bearer {key}");
        }
        var uri = new UriBuilder(new Uri(client.BaseAddress!, $"/result/{sessionId}/attach")) { Scheme = "ws" }.Uri;
        await attachment._socket.ConnectAsync(uri, attachment._deadline.Token);
        return attachment;
    }

    public Task SendAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, _deadline.Token);

    public Task SendBytesAsync(byte[] data) => _socket.SendAsync(data, WebSocketMessageType.Binary, endOfMessage: true, _deadline.Token);

    public Task CloseAsync() => _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", _deadline.Token);

    /// <summary>The next message, or null once the server has closed.</summary>
    public async Task<JsonElement?> ReceiveAsync()
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var received = await _socket.ReceiveAsync(chunk, _deadline.Token);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            buffer.Write(chunk, 0, received.Count);
            if (received.EndOfMessage)
            {
                var message = JsonDocument.Parse(buffer.ToArray()).RootElement.Clone();
                Received.Add(message);
                return message;
            }
        }
    }

    /// <summary>Receives until a message matches; fails if the server closes first.</summary>
    public async Task<JsonElement> ReceiveUntilAsync(Func<JsonElement, bool> match)
    {
        while (await ReceiveAsync() is { } message)
        {
            if (match(message))
            {
                return message;
            }
        }
        throw new Xunit.Sdk.XunitException($"The server closed before the expected message; received: {string.Join(", ", Received)}");
    }

    /// <summary>Receives everything up to the server's close; the result message.</summary>
    public async Task<JsonElement> ResultAsync() => (await ReceiveUntilAsync(m => Type(m) == "result")).GetProperty("result");

    /// <summary>The text of the stdout messages received so far.</summary>
    public string Stdout => string.Concat(Received.Where(m => Type(m) == "stdout").Select(m => m.GetProperty("text").GetString()));

    public static string? Type(JsonElement message) => message.GetProperty("type").GetString();

    /// <summary>
    /// Completes the close handshake (waits for the server's close) before the socket goes. Disposing at once after
    /// <see cref="CloseAsync"/> would close a TCP socket with the server's unread messages in it: the kernel then
    /// resets the connection and throws away what it had not yet sent, the last messages (and the close) included.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseSent or WebSocketState.CloseReceived)
        {
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "test over", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
            {
            }
        }
        _socket.Dispose();
        _deadline.Dispose();
    }
}
