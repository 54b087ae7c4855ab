using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Executor.Contracts;
using Executor.Session.Apis;
using Executor.Session.Live;
using Executor.SessionCore;
using Executor.SessionCore.Access;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Compat.Jupyter;

/// <summary>
/// GET /api/kernels/{id}/channels: the kernel's WebSocket, in either of Jupyter Server's framings (<see cref="KernelWire"/>).
/// Shell requests are answered one at a time, in order, each between a busy and an idle status, as a kernel does; an
/// execute_request is a sandbox call followed live (its prints become stream messages as they happen, through
/// <see cref="SessionFeed"/>, which any replica serves), then its results, displays and error, then its execute_reply.
/// Control requests (interrupt, shutdown) are answered at once, even while a cell runs. The socket keeps nothing that
/// another replica needs: the kernel's session id is its id, its execution count is in the sandbox's attributes.
/// Not supported: stdin (input() reads end of file), comms (widgets), completion and inspection (empty replies).
/// </summary>
public static partial class KernelChannels
{
    /// <summary>Shell requests a socket holds while one runs; past it the socket reads no more until one is done.</summary>
    private const int ShellQueue = 64;

    public static async Task<IResult> ConnectAsync(
        [FromRoute(Name = "kernel_id")] string kernelId, HttpContext context, SandboxOperations sandboxes, SessionCommands sessions, ISandboxStore sandboxStore,
        ISessionStore store, IOutputLog log, SessionSignals signals, RuntimeDirectory runtimes, StreamGate gate, TimeProvider time,
        ILoggerFactory loggers)
    {
        var caller = sessions.CallerOf(context);
        if (await sandboxes.FindOwnedAsync(JupyterKernels.SandboxId(kernelId), caller, context.RequestAborted) is not { State: SandboxStates.Running } sandbox)
        {
            return TypedResults.Problem(JupyterKernels.KernelNotFound(kernelId));
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return TypedResults.Problem(JupyterKernels.Problem(Problems.Create(StatusCodes.Status400BadRequest, "websocket-required",
                "Not a WebSocket request", $"GET /api/kernels/{kernelId}/channels upgrades to a WebSocket.")));
        }
        if (gate.TryEnter(context) is { } tooMany) // a socket holds a task and the store's attention as a live stream does
        {
            return TypedResults.Problem(JupyterKernels.Problem(tooMany));
        }
        var v1 = context.WebSockets.WebSocketRequestedProtocols.Contains(KernelWire.V1Protocol);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = v1 ? KernelWire.V1Protocol : null,
            KeepAliveInterval = TimeSpan.FromSeconds(15), // the gateway's proxy closes a socket silent for two minutes
        });
        var runtime = (await runtimes.ListAsync(context.RequestAborted)).FirstOrDefault(r => r.Id == sandbox.Runtime);
        using var connection = new Connection(socket, v1, sandbox, caller, sandboxes, sandboxStore, store, log, signals, time,
            runtime?.LanguageVersion ?? runtime?.Version, loggers.CreateLogger(typeof(KernelChannels)));
        await connection.RunAsync(context.RequestAborted);
        return Results.Empty;
    }

    private sealed partial class Connection(
        WebSocket socket, bool v1, SandboxRecord sandbox, Caller caller, SandboxOperations sandboxes, ISandboxStore sandboxStore, ISessionStore store,
        IOutputLog log, SessionSignals signals, TimeProvider time, string? pythonVersion, ILogger logger) : IDisposable
    {
        private readonly SemaphoreSlim _sending = new(1, 1);
        private readonly Channel<KernelMessage> _shell = Channel.CreateBounded<KernelMessage>(
            new BoundedChannelOptions(ShellQueue) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true, SingleWriter = true });

        /// <summary>One session id for the kernel, whichever socket or replica speaks for it: its id.</summary>
        private readonly string _session = JupyterKernels.KernelId(sandbox.Id);

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var shell = ServeShellAsync(stop.Token);
            var control = new List<Task>();
            try
            {
                await foreach (var message in ReceiveAsync(stop.Token))
                {
                    switch (message.Channel)
                    {
                        case "control":
                            control.RemoveAll(t => t.IsCompleted);
                            control.Add(GuardedAsync(message, HandleControlAsync, stop.Token));
                            break;
                        case "shell":
                            await _shell.Writer.WriteAsync(message, stop.Token);
                            break;
                        default:
                            LogIgnored(sandbox.Id, message.Channel, message.Type); // stdin: no call asks for input here
                            break;
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
            _shell.Writer.TryComplete();
            await stop.CancelAsync();
            await Task.WhenAll([shell, .. control]);
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                try
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", CancellationToken.None);
                }
                catch (WebSocketException)
                {
                }
            }
        }

        public void Dispose() => _sending.Dispose();

        private async Task ServeShellAsync(CancellationToken cancellationToken)
        {
            try
            {
                await foreach (var message in _shell.Reader.ReadAllAsync(cancellationToken))
                {
                    await GuardedAsync(message, HandleShellAsync, cancellationToken);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        /// <summary>Handles one request; a failure is logged and answered as an error, and the socket goes on.</summary>
        private async Task GuardedAsync(KernelMessage message, Func<KernelMessage, CancellationToken, Task> handle, CancellationToken cancellationToken)
        {
            try
            {
                await handle(message, cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
            catch (Exception e)
            {
                LogFailed(e, sandbox.Id, message.Type);
            }
        }

        private async Task HandleShellAsync(KernelMessage request, CancellationToken cancellationToken)
        {
            await SendAsync(KernelReplies.Status(request, _session, "busy", time.GetUtcNow()), cancellationToken);
            try
            {
                switch (request.Type)
                {
                    case "kernel_info_request":
                        await ReplyAsync(request, "kernel_info_reply", KernelReplies.KernelInfo(pythonVersion,
                            $"Executor sandbox {sandbox.Id} ({sandbox.Runtime ?? "default runtime"}): Python {pythonVersion}"), cancellationToken);
                        break;
                    case "execute_request":
                        await ExecuteAsync(request, cancellationToken);
                        break;
                    case "interrupt_request" or "shutdown_request":
                        await HandleControlAsync(request, cancellationToken);
                        break;
                    default:
                        if (KernelReplies.Canned(request) is var (type, content))
                        {
                            await ReplyAsync(request, type, content, cancellationToken);
                        }
                        else
                        {
                            LogIgnored(sandbox.Id, request.Channel, request.Type);
                        }
                        break;
                }
            }
            finally
            {
                await SendAsync(KernelReplies.Status(request, _session, "idle", time.GetUtcNow()), CancellationToken.None);
            }
        }

        private async Task HandleControlAsync(KernelMessage request, CancellationToken cancellationToken)
        {
            var current = await sandboxes.FindOwnedAsync(sandbox.Id, caller, cancellationToken) ?? sandbox;
            switch (request.Type)
            {
                case "interrupt_request":
                    await sandboxes.InterruptAsync(current, cancellationToken);
                    await ReplyAsync(request, "interrupt_reply", new JsonObject { ["status"] = "ok" }, cancellationToken);
                    break;
                case "shutdown_request":
                    var restart = request.Content["restart"] is JsonValue value && value.TryGetValue<bool>(out var again) && again;
                    var problem = restart
                        ? await JupyterApi.RestartKernelAsync(current, caller, sandboxes, sandboxStore, cancellationToken)
                        : null;
                    if (!restart)
                    {
                        await sandboxes.DeleteAsync(current, caller, cancellationToken);
                    }
                    var reply = problem is null ? new JsonObject { ["status"] = "ok" } : KernelReplies.Error("RestartError", problem.Detail ?? "", []);
                    reply["restart"] = restart;
                    await ReplyAsync(request, "shutdown_reply", reply, cancellationToken);
                    break;
                case "kernel_info_request":
                    await HandleShellAsync(request, cancellationToken);
                    break;
                default:
                    LogIgnored(sandbox.Id, request.Channel, request.Type);
                    break;
            }
        }

        /// <summary>A cell: the code as a call in the sandbox's namespace, followed live to its end.</summary>
        private async Task ExecuteAsync(KernelMessage request, CancellationToken cancellationToken)
        {
            var code = request.Content["code"] is JsonValue value && value.TryGetValue<string>(out var text) ? text : "";
            var silent = request.Content["silent"] is JsonValue quiet && quiet.TryGetValue<bool>(out var s) && s;
            var current = await sandboxes.FindOwnedAsync(sandbox.Id, caller, cancellationToken) ?? sandbox;
            // The count this cell will have, as far as this surface knows the kernel (another surface's calls count too).
            var expected = JupyterKernels.ExecutionCount(current) + 1;
            if (!silent)
            {
                await PublishAsync(request, "execute_input", new JsonObject { ["code"] = code, ["execution_count"] = expected }, cancellationToken);
            }
            if (string.IsNullOrWhiteSpace(code))
            {
                await ReplyAsync(request, "execute_reply", KernelReplies.ExecuteReply(Empty, expected - 1), cancellationToken);
                return;
            }
            // A cell runs as long as the key allows, as a notebook's cell would (the service's default call timeout otherwise).
            var (callId, problem) = await sandboxes.CallAsync(current, new CallRequest(code, caller.Quotas.MaxTimeoutSeconds, null, false), caller,
                cancellationToken);
            if (problem is not null)
            {
                await FailAsync(request, problem.Type?.Split('/')[^1] ?? "SandboxError", problem.Detail ?? problem.Title ?? "", expected, cancellationToken);
                return;
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(sandboxes.CallWait(null, caller.Quotas.MaxTimeoutSeconds));
            SessionRecord? call = null;
            try
            {
                await foreach (var e in SessionFeed.StreamAsync(callId!, 0, store, log, signals, time, wait.Token))
                {
                    if (e.Type is SessionFeed.StdoutEvent or SessionFeed.StderrEvent && e.Data["text"] is JsonValue printed)
                    {
                        await PublishAsync(request, "stream", new JsonObject
                        {
                            ["name"] = e.Type == SessionFeed.StdoutEvent ? "stdout" : "stderr", ["text"] = printed.GetValue<string>(),
                        }, cancellationToken);
                    }
                    else if (e.Type == SessionFeed.ResultEvent)
                    {
                        call = await store.FindAsync(callId!, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }
            if (call?.Result is null)
            {
                await FailAsync(request, "TimeoutError", $"The sandbox did not answer call {callId} in time.", expected, cancellationToken);
                return;
            }
            if (call.Result.Sandbox?.Status == SandboxStatus.SandboxGone)
            {
                await FailAsync(request, "DeadKernelError", call.Result.Detail ?? "The kernel's sandbox has ended.", expected, cancellationToken);
                return;
            }
            var view = CallView.From(call);
            var count = view.ExecutionCount ?? expected;
            foreach (var (type, content) in KernelReplies.Outputs(view, count))
            {
                if (!silent || type == "error")
                {
                    await PublishAsync(request, type, content, cancellationToken);
                }
            }
            await JupyterKernels.UpdateStateAsync(sandboxes, current, sandboxStore, state => state["execution_count"] = view.ExecutionCount ?? 0,
                cancellationToken);
            await ReplyAsync(request, "execute_reply", KernelReplies.ExecuteReply(view, count), cancellationToken);
        }

        private static readonly CallView Empty = new("", SandboxStatus.Ok, "", "", [], [], null, null, 0, false, null);

        private async Task FailAsync(KernelMessage request, string name, string value, int count, CancellationToken cancellationToken)
        {
            var error = KernelReplies.Error(name, value, [$"{name}: {value}"]);
            await PublishAsync(request, "error", (JsonObject)error.DeepClone(), cancellationToken);
            error["execution_count"] = count;
            error["user_expressions"] = new JsonObject();
            error["payload"] = new JsonArray();
            await ReplyAsync(request, "execute_reply", error, cancellationToken);
        }

        private Task ReplyAsync(KernelMessage request, string type, JsonObject content, CancellationToken cancellationToken) =>
            SendAsync(KernelReplies.Reply(request, _session, request.Channel, type, content, time.GetUtcNow()), cancellationToken);

        private Task PublishAsync(KernelMessage request, string type, JsonObject content, CancellationToken cancellationToken) =>
            SendAsync(KernelReplies.Reply(request, _session, "iopub", type, content, time.GetUtcNow()), cancellationToken);

        private async Task SendAsync(KernelMessage message, CancellationToken cancellationToken)
        {
            await _sending.WaitAsync(cancellationToken);
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    if (v1)
                    {
                        await socket.SendAsync(KernelWire.EncodeV1(message), WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
                    }
                    else
                    {
                        await socket.SendAsync(Encoding.UTF8.GetBytes(KernelWire.EncodeLegacy(message)), WebSocketMessageType.Text, endOfMessage: true,
                            cancellationToken);
                    }
                }
            }
            finally
            {
                _sending.Release();
            }
        }

        /// <summary>The client's messages, whole; a frame that is no message is skipped, one over the size limit closes the socket.</summary>
        private async IAsyncEnumerable<KernelMessage> ReceiveAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var limit = sandboxes.Options.MaxCodeBytes * 2L + 65536; // code, JSON-escaped, and its message around it
            var frame = new ArrayBufferWriter<byte>();
            while (socket.State is WebSocketState.Open)
            {
                var received = await socket.ReceiveAsync(frame.GetMemory(16 * 1024), cancellationToken);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    yield break;
                }
                frame.Advance(received.Count);
                if (frame.WrittenCount > limit)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, $"a message may have at most {limit} bytes", CancellationToken.None);
                    yield break;
                }
                if (!received.EndOfMessage)
                {
                    continue;
                }
                var message = v1
                    ? KernelWire.DecodeV1(frame.WrittenSpan)
                    : KernelWire.DecodeLegacy(frame.WrittenSpan, received.MessageType == WebSocketMessageType.Text);
                frame.ResetWrittenCount();
                if (message is null)
                {
                    LogUnreadable(sandbox.Id);
                    continue;
                }
                yield return message;
            }
        }

        [LoggerMessage(Level = LogLevel.Debug, Message = "Kernel {SandboxId}: no answer to {Channel} message {MessageType}")]
        private partial void LogIgnored(string sandboxId, string channel, string messageType);

        [LoggerMessage(Level = LogLevel.Information, Message = "Kernel {SandboxId}: a frame that is no kernel message was skipped")]
        private partial void LogUnreadable(string sandboxId);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Kernel {SandboxId}: handling {MessageType} failed")]
        private partial void LogFailed(Exception exception, string sandboxId, string messageType);
    }
}
