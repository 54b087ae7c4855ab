using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Live;

/// <summary>
/// GET /result/{id}/attach: a WebSocket to a session. The server sends JSON messages: the events of
/// <see cref="SessionFeed"/> ({"type": "state"|"stdout"|"stderr", ...} and {"type": "result", "result": {...}}), then
/// closes. The client's messages (text or binary) are written to the script's stdin when the session was submitted with
/// stdin_mode=interactive; a message that is only U+0004 (Ctrl-D), or closing the socket, ends the input. Input over
/// Sessions:MaxStdinBytes is refused ({"type": "error"}) and ends it.
/// </summary>
public static partial class AttachApi
{
    public const string EndOfInput = "\u0004";

    /// <summary>The subprotocol a browser offers beside its key (see ApiKeyAuthenticationHandler.WebSocketKeyPrefix).</summary>
    public const string BrowserProtocol = "executor";

    public static IEndpointRouteBuilder MapAttachApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/result/{session_id}/attach", AttachAsync)
            .WithName("AttachToSession")
            .WithTags("Sessions")
            .WithSummary("Attaches to a session (WebSocket): its output as it happens, and its stdin when interactive")
            .WithDescription("Upgrade to a WebSocket. Server messages are JSON: {\"type\": \"state\", \"state\"}, {\"type\": \"stdout\"|\"stderr\", "
                + "\"offset\", \"text\", \"id\"}, {\"type\": \"error\", \"error\", \"detail\"} and finally {\"type\": \"result\", \"result\"}; then the "
                + "server closes. With stdin_mode=interactive, each client message is written to the script's stdin; a message holding only "
                + "U+0004 (Ctrl-D), or a close, is end of file. ?last_event_id=N resumes the output after byte N.")
            .Produces(StatusCodes.Status101SwitchingProtocols)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        return app;
    }

    public static async Task<IResult> AttachAsync(
        [FromRoute(Name = "session_id")] string sessionId, HttpContext context, ISessionStore store, IOutputLog log, IStdinLog stdin,
        SessionSignals signals, SessionCommands sessions, IOptions<SessionServiceOptions> options, StreamGate gate, TimeProvider time,
        ILoggerFactory loggers)
    {
        var cancellationToken = context.RequestAborted;
        var session = await sessions.FindOwnedAsync(sessionId, context, cancellationToken);
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return TypedResults.Problem(Problems.Create(StatusCodes.Status400BadRequest, "websocket-required", "Not a WebSocket request",
                $"GET /result/{sessionId}/attach upgrades to a WebSocket (Upgrade: websocket); for output alone, GET /result/{sessionId}/events."));
        }
        if (gate.TryEnter(context) is { } tooMany)
        {
            return TypedResults.Problem(tooMany);
        }
        var from = LiveApi.Offset(context.Request.Query["last_event_id"].ToString()) ?? 0;
        // A browser that offered subprotocols (the playground: "executor" and its key) needs one of them chosen.
        var subProtocol = context.WebSockets.WebSocketRequestedProtocols.Contains(BrowserProtocol) ? BrowserProtocol : null;
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = TimeSpan.FromSeconds(15),
            SubProtocol = subProtocol,
        });
        using var attach = new Attachment(socket, sessionId, stdin, signals, options.Value.MaxStdinBytes, time, loggers.CreateLogger(typeof(AttachApi)));
        if (await stdin.MarkStdinAttachedAsync(sessionId, cancellationToken))
        {
            signals.InputArrived(sessionId);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var receiving = attach.ReceiveAsync(stop.Token);
        var sending = attach.SendAsync(SessionFeed.StreamAsync(sessionId, from, store, log, signals, time, stop.Token), stop.Token);
        await Task.WhenAny(receiving, sending);
        await stop.CancelAsync(); // whichever ended first (the result was sent, or the client left) ends the other
        await Task.WhenAll(receiving, sending).ContinueWith(_ => { }, TaskScheduler.Default);
        if (socket.State == WebSocketState.CloseReceived)
        {
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "detached", CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
        }
        return Results.Empty;
    }

    private sealed partial class Attachment(
        WebSocket socket, string sessionId, IStdinLog stdin, SessionSignals signals, long maxStdinBytes, TimeProvider time, ILogger logger)
        : IDisposable
    {
        private readonly SemaphoreSlim _sending = new(1, 1);
        private StdinWriter? _writer;
        private volatile bool _inputEnded;

        /// <summary>The input's way to the store (coalesced); made at the first message, which comes from the one receiving loop.</summary>
        private StdinWriter Writer => _writer ??= new StdinWriter(stdin, sessionId, maxStdinBytes, time, WrittenAsync);

        public async Task SendAsync(IAsyncEnumerable<LiveEvent> events, CancellationToken cancellationToken)
        {
            try
            {
                await foreach (var e in events)
                {
                    if (e.Type == SessionFeed.PingEvent)
                    {
                        continue; // the WebSocket keeps itself alive
                    }
                    var message = e.Type == SessionFeed.ResultEvent
                        ? new JsonObject { ["type"] = e.Type, ["result"] = e.Data }
                        : new JsonObject(e.Data.Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))) { ["type"] = e.Type, ["id"] = e.Id };
                    await SendAsync(message, cancellationToken);
                }
                await _sending.WaitAsync(cancellationToken);
                try
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "session ended", cancellationToken);
                }
                finally
                {
                    _sending.Release();
                }
                await DrainAsync(cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        }

        /// <summary>After the result, waits (a little) for the client's close, so that the close handshake completes.</summary>
        private async Task DrainAsync(CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            while (socket.State == WebSocketState.CloseSent)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        public async Task ReceiveAsync(CancellationToken cancellationToken)
        {
            var message = new ArrayBufferWriter<byte>();
            var discarding = false;
            try
            {
                while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
                {
                    var received = await socket.ReceiveAsync(message.GetMemory(16 * 1024), cancellationToken);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }
                    if (!discarding && message.WrittenCount + received.Count > maxStdinBytes)
                    {
                        discarding = true; // the rest of this message goes nowhere
                        await RefuseAsync("stdin-too-large", $"A message passed the input limit of {maxStdinBytes} bytes; the input ends here.", cancellationToken);
                    }
                    if (discarding)
                    {
                        message.ResetWrittenCount();
                        discarding = !received.EndOfMessage;
                        continue;
                    }
                    message.Advance(received.Count);
                    if (received.EndOfMessage)
                    {
                        await WriteAsync(message.WrittenSpan.ToArray(), received.MessageType == WebSocketMessageType.Text, cancellationToken);
                        message.ResetWrittenCount();
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
            finally
            {
                // A close, or a client gone, is the end of the input.
                await EndInputAsync(CancellationToken.None);
            }
        }

        private async Task WriteAsync(byte[] data, bool text, CancellationToken cancellationToken)
        {
            if (_inputEnded)
            {
                await SendErrorAsync("stdin-closed", "The input has ended: nothing more reaches the script.", cancellationToken);
                return;
            }
            if (text && Encoding.UTF8.GetString(data) == EndOfInput)
            {
                await EndInputAsync(cancellationToken);
                return;
            }
            if (data.Length > 0 && !await Writer.WriteAsync(data, cancellationToken))
            {
                await SendErrorAsync("stdin-closed", "The input has ended: nothing more reaches the script.", cancellationToken);
            }
        }

        /// <summary>The outcome of one of the writer's appends (several messages, coalesced).</summary>
        private async Task WrittenAsync(StdinAppend outcome)
        {
            switch (outcome)
            {
                case StdinAppend.Appended:
                    signals.InputArrived(sessionId);
                    break;
                case StdinAppend.OverLimit:
                    // From the writer itself, which has stopped: the end must not wait for it.
                    await RefuseAsync("stdin-too-large", $"The input would pass the limit of {maxStdinBytes} bytes; it ends here.", CancellationToken.None,
                        fromWriter: true);
                    break;
                default:
                    _inputEnded = true;
                    await SendErrorAsync("stdin-closed",
                        "This session's stdin is closed: it was not submitted with stdin_mode=interactive, its input has ended, or it has ended.",
                        CancellationToken.None);
                    break;
            }
        }

        private async Task RefuseAsync(string error, string detail, CancellationToken cancellationToken, bool fromWriter = false)
        {
            LogInputRefused(sessionId, error);
            await SendErrorAsync(error, detail, cancellationToken);
            await EndInputAsync(cancellationToken, fromWriter);
        }

        private async Task EndInputAsync(CancellationToken cancellationToken, bool fromWriter = false)
        {
            if (_inputEnded)
            {
                return;
            }
            _inputEnded = true;
            try
            {
                if (!fromWriter && _writer is { } writer)
                {
                    await writer.CompleteAsync(); // what was sent before the end reaches the store before the end does
                }
                if (await stdin.CloseStdinAsync(sessionId, cancellationToken))
                {
                    signals.InputArrived(sessionId);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogInputRefused(sessionId, e.Message); // the runner host ends the input itself when the session ends
            }
        }

        public void Dispose() => _sending.Dispose();

        private Task SendErrorAsync(string error, string detail, CancellationToken cancellationToken) =>
            SendAsync(new JsonObject { ["type"] = "error", ["error"] = error, ["detail"] = detail }, cancellationToken);

        private async Task SendAsync(JsonObject message, CancellationToken cancellationToken)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(message, SessionResults.Json);
            await _sending.WaitAsync(cancellationToken);
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
                }
            }
            finally
            {
                _sending.Release();
            }
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Input of session {SessionId} ended: {Reason}")]
        private partial void LogInputRefused(string sessionId, string reason);
    }
}
