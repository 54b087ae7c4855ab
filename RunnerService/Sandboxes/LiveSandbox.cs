using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Docker.DotNet;
using Executor.Contracts;
using Executor.Runner.Runs;

namespace Executor.Runner.Sandboxes;

/// <summary>
/// One stateful sandbox on this host: its container, and the attach stream to its kernel-mode launcher (frames.md,
/// section 7). One reader parses the launcher's frames and hands them to what waits for them; calls and restarts run
/// one at a time in the order they came (a FIFO); file operations go at once, their answers matched by id. Anything
/// the launcher should never do (a frame it has no kind for, an oversized frame, a record that is not JSON, a call
/// past its outside deadline, the stream's end) ends the sandbox: it is broken, and <see cref="Ended"/> says why.
/// </summary>
public sealed partial class LiveSandbox : IAsyncDisposable
{
    /// <summary>Calls and restarts waiting their turn; more are refused (SessionService keeps a sandbox's queue short).</summary>
    public const int MaxQueued = 256;

    /// <summary>The launcher kills a call's kernel this long after interrupting it (frames.md): part of the outside deadline.</summary>
    public static readonly TimeSpan InterruptGrace = TimeSpan.FromSeconds(2);

    private const int DiagnosticsLimit = 8192;
    private static readonly TimeSpan InterruptRepeat = TimeSpan.FromMilliseconds(500);

    private readonly MultiplexedStream _stream;
    private readonly PendingRead? _pending;
    private readonly KernelFrameReader _frames;
#pragma warning disable CA2213 // see DisposeAsync
    private readonly SemaphoreSlim _writeLock = new(1, 1);
#pragma warning restore CA2213
    private readonly Channel<Queued> _queue = Channel.CreateBounded<Queued>(new BoundedChannelOptions(MaxQueued)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });
    private readonly ConcurrentDictionary<string, Queued> _queued = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(KernelFileAnswer Answer, byte[] Content)>> _fileOperations = new();
    private readonly TaskCompletionSource _kernelReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _end = new();
    private readonly List<byte> _diagnostics = [];
    private readonly SandboxCallSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile Running? _running;
    private Task? _reading;
    private Task? _processing;
    private long _lastActivity;

    public LiveSandbox(string sandboxId, AcquiredContainer container, SandboxCallSettings settings, TimeProvider time, ILogger logger)
    {
        SandboxId = sandboxId;
        ContainerId = container.ContainerId;
        Warm = container.Warm;
        _stream = container.Stream ?? throw new ArgumentException("The container's stream must be attached", nameof(container));
        _pending = container.Read;
        _settings = settings;
        // A message may cross the call's output limit by its own size before the launcher cuts the call: one more limit of
        // slack, no more.
        _frames = new KernelFrameReader(2 * settings.OutputLimitBytes, settings.Files.MaxFileBytes);
        _time = time;
        _logger = logger;
        StartedAt = time.GetUtcNow();
        _lastActivity = time.GetTimestamp();
    }

    public string SandboxId { get; }

    public string ContainerId { get; }

    public bool Warm { get; }

    /// <summary>The launcher has read the kernel job: from then on the sandbox is this container's.</summary>
    public bool Accepted { get; private set; }

    public DateTimeOffset StartedAt { get; }

    /// <summary>Completes with the reason once the sandbox has ended (asked to, or broken): its container must go.</summary>
    public Task<string> Ended => _ended.Task;

    /// <summary>How long no command has run or waited here.</summary>
    public TimeSpan Idle => _running is null && _queued.IsEmpty && _fileOperations.IsEmpty ? _time.GetElapsedTime(Volatile.Read(ref _lastActivity)) : TimeSpan.Zero;

    /// <summary>
    /// Starts reading, sends the kernel job, and waits (within <paramref name="within"/>) for the launcher to accept it
    /// and its kernel to be ready; then runs the queue. Null when it is ready, else why not (the sandbox has ended).
    /// </summary>
    public async Task<string?> StartAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        _reading = ReadAsync();
        try
        {
            var header = KernelFrameReader.Line(new KernelHeader(KernelHeader.Kernel, _settings.Files) { Egress = _settings.Egress }, KernelJsonContext.Default.KernelHeader);
            await WriteAsync(header, cancellationToken);
            await Task.WhenAny(_kernelReady.Task, _ended.Task).WaitAsync(within, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            End($"its kernel was not ready within {within.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            LogStreamBroke(SandboxId, e.Message);
            End(e is OperationCanceledException ? "the runner host is stopping" : "its stream broke before its kernel was ready");
        }
        if (_ended.Task.IsCompleted)
        {
            return await _ended.Task;
        }
        _processing = ProcessAsync();
        return null;
    }

    /// <summary>A call or a restart, answered in its turn; its task ends with its result (cancelled or gone without running, too).</summary>
    public Task<RunResult> Enqueue(RunJob job, int timeoutSeconds)
    {
        Touch();
        var item = new Queued(job, timeoutSeconds);
        if (_ended.Task.IsCompleted)
        {
            item.Done.TrySetResult(SandboxResults.Gone(_ended.Task.Result));
        }
        else if (!_queued.TryAdd(job.SessionId, item))
        {
            // Claimed twice (the registry lets only the first through): the first one's answer is this one's too.
            if (_queued.TryGetValue(job.SessionId, out var first))
            {
                return first.Done.Task;
            }
            item.Done.TrySetResult(SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, "The command was sent twice."));
        }
        else if (!_queue.Writer.TryWrite(item))
        {
            _queued.TryRemove(job.SessionId, out _);
            item.Done.TrySetResult(_ended.Task.IsCompleted
                ? SandboxResults.Gone(_ended.Task.Result)
                : SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, $"The sandbox has {MaxQueued} commands waiting already."));
        }
        return item.Done.Task;
    }

    /// <summary>
    /// Stops a command: one still waiting is answered cancelled without running; the running call is interrupted (its
    /// record says interrupted, the namespace survives). False when the command is not this sandbox's.
    /// </summary>
    public bool Cancel(string commandId)
    {
        if (_queued.TryRemove(commandId, out var waiting))
        {
            waiting.Done.TrySetResult(SandboxResults.Failure(RunStatus.Cancelled, SandboxStatus.Interrupted, "Cancelled before it ran."));
            return true;
        }
        if (_running is { } running && running.Id == commandId)
        {
            _ = InterruptAsync(running);
            return true;
        }
        return false;
    }

    /// <summary>A file operation, sent at once (the launcher does it beside a running call).</summary>
    public async Task<RunResult> FileAsync(RunJob job, CancellationToken cancellationToken)
    {
        Touch();
        var command = job.Sandbox!;
        var op = command.Kind switch
        {
            SandboxCommandKinds.PutFile => "put",
            SandboxCommandKinds.GetFile => "get",
            SandboxCommandKinds.ListFiles => "list",
            _ => "delete",
        };
        var file = job.Files.Count > 0 ? job.Files[0] : null;
        var content = op == "put" ? file?.Content : [];
        var path = command.Path ?? file?.Path ?? "";
        if (content is null)
        {
            return SandboxResults.Failure(RunStatus.Failed, SandboxStatus.Failed, "A put_file command carries no file.");
        }
        var answer = new TaskCompletionSource<(KernelFileAnswer, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_fileOperations.TryAdd(job.SessionId, answer))
        {
            return SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, "This file operation is in progress already.");
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _end.Token);
        try
        {
            var line = KernelFrameReader.Line(new KernelFileRequest(job.SessionId, op, path), KernelJsonContext.Default.KernelFileRequest, content);
            await WriteAsync(LauncherFrames.Encode(LauncherFrames.FileOperation, line), stop.Token);
            var (result, got) = await answer.Task.WaitAsync(_settings.FileTimeout, _time, stop.Token);
            return SandboxResults.FromFile(op, path, result, got);
        }
        catch (TimeoutException)
        {
            End($"it did not answer file operation {job.SessionId} within {_settings.FileTimeout.TotalSeconds:0} s");
            return SandboxResults.Broken(await _ended.Task);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            return _ended.Task.IsCompleted ? SandboxResults.Gone(await _ended.Task) : SandboxResults.Failure(RunStatus.InternalError,
                SandboxStatus.Failed, "The runner host is stopping.");
        }
        finally
        {
            _fileOperations.TryRemove(job.SessionId, out _);
            Touch();
        }
    }

    /// <summary>
    /// Ends the sandbox (idempotent; the first reason stays): commands waiting are answered <see cref="SandboxStatus.SandboxGone"/>,
    /// the running one ends, the stream closes. The container is the owner's to remove (see <see cref="Ended"/>).
    /// </summary>
    public void End(string reason)
    {
        if (!_ended.TrySetResult(reason))
        {
            return;
        }
        LogEnded(SandboxId, ContainerId, reason);
        _queue.Writer.TryComplete();
        foreach (var id in _queued.Keys)
        {
            if (_queued.TryRemove(id, out var waiting))
            {
                waiting.Done.TrySetResult(SandboxResults.Gone(reason));
            }
        }
        try
        {
            _end.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        _stream.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        End("the runner host let it go");
        foreach (var task in new[] { _reading, _processing }.OfType<Task>())
        {
            await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        // _end and _writeLock stay undisposed: a late cancel or file operation may still touch them, and neither holds
        // anything that needs disposing (no timer, no wait handle).
    }

    private void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    private async Task ProcessAsync()
    {
        try
        {
            await foreach (var item in _queue.Reader.ReadAllAsync(_end.Token))
            {
                if (!_queued.TryRemove(item.Job.SessionId, out _))
                {
                    continue; // cancelled while it waited: answered already
                }
                RunResult result;
                try
                {
                    result = item.Job.Sandbox!.Kind == SandboxCommandKinds.Restart
                        ? await RestartAsync(item.Job.SessionId)
                        : await CallAsync(item.Job, item.TimeoutSeconds);
                }
                catch (Exception e) when (e is not OperationCanceledException || _end.IsCancellationRequested)
                {
                    LogCommandFailed(SandboxId, item.Job.SessionId, e);
                    End(e is OperationCanceledException ? "the runner host is stopping" : "a command failed on the runner host (its log has the cause)");
                    result = SandboxResults.Gone(await _ended.Task);
                }
                Touch();
                item.Done.TrySetResult(result);
            }
        }
        catch (OperationCanceledException) when (_end.IsCancellationRequested)
        {
        }
    }

    private async Task<RunResult> CallAsync(RunJob job, int timeoutSeconds)
    {
        var timeout = TimeSpan.FromSeconds(timeoutSeconds);
        var output = new CallOutput(_settings.OutputLimitBytes);
        var running = new Running(job.SessionId, output);
        await using var relay = new OutputRelay(_settings.Session, _settings.Host, job.SessionId, _logger);
        running.Relay = relay;
        _running = running;
        using var inputEnds = CancellationTokenSource.CreateLinkedTokenSource(_end.Token);
        var input = Task.CompletedTask;
        try
        {
            var call = new KernelCallRequest(job.SessionId, job.Sandbox!.Code ?? "", (long)timeout.TotalMilliseconds, _settings.OutputLimitBytes,
                job.Interactive, job.Interactive ? "" : job.Stdin ?? "")
            {
                Context = job.Sandbox.Context, ResetContext = job.Sandbox.ResetContext, Env = job.Sandbox.Env,
            };
            var payload = JsonSerializer.SerializeToUtf8Bytes(call, KernelJsonContext.Default.KernelCallRequest);
            await WriteAsync(LauncherFrames.Encode(LauncherFrames.Call, payload), _end.Token);
            if (job.Interactive)
            {
                input = new StdinRelay(_settings.Session, _settings.Host, job.SessionId, WriteAsync, endOfInput: null, _time, _logger)
                    .RunAsync(inputEnds.Token);
            }
            // The launcher interrupts the call at its timeout and kills its kernel 2 s later; past that, and the host's
            // grace, the launcher itself no longer answers: the sandbox is broken.
            var deadline = timeout + InterruptGrace + _settings.KillGrace;
            KernelCallRecord record;
            try
            {
                record = await running.Done.Task.WaitAsync(deadline, _time, _end.Token);
            }
            catch (TimeoutException)
            {
                End($"call {job.SessionId} did not end within {deadline.TotalSeconds:0} s");
                return SandboxResults.Broken(await _ended.Task, output);
            }
            catch (OperationCanceledException) when (_end.IsCancellationRequested)
            {
                return SandboxResults.Broken(await _ended.Task, output);
            }
            return SandboxResults.FromCall(record, output, timeoutSeconds, _settings.OutputLimitBytes, _settings.MemoryMb);
        }
        finally
        {
            _running = null;
            await inputEnds.CancelAsync();
            await input;
        }
    }

    private async Task<RunResult> RestartAsync(string id)
    {
        var running = new Running(id, Output: null);
        _running = running;
        try
        {
            var payload = JsonSerializer.SerializeToUtf8Bytes(new KernelRestartRequest(id), KernelJsonContext.Default.KernelRestartRequest);
            await WriteAsync(LauncherFrames.Encode(LauncherFrames.Restart, payload), _end.Token);
            var record = await running.Done.Task.WaitAsync(_settings.StartTimeout, _time, _end.Token);
            return SandboxResults.FromRestart(record);
        }
        catch (TimeoutException)
        {
            End($"its kernel did not restart within {_settings.StartTimeout.TotalSeconds:0} s");
            return SandboxResults.Broken(await _ended.Task);
        }
        catch (OperationCanceledException) when (_end.IsCancellationRequested)
        {
            return SandboxResults.Broken(await _ended.Task);
        }
        finally
        {
            _running = null;
        }
    }

    /// <summary>
    /// Interrupts the call until it ends: an interrupt that reaches the launcher before it has started the call is ignored
    /// there, so it is sent again while the call still runs. Never after its record (the next call is sent only then).
    /// </summary>
    private async Task InterruptAsync(Running running)
    {
        try
        {
            var frame = LauncherFrames.Encode(LauncherFrames.Interrupt, []);
            // Checked under the write lock: the next call's frame, written under it too, cannot have gone before.
            while (await WriteIfAsync(frame, () => _running == running && !running.Done.Task.IsCompleted, _end.Token))
            {
                await Task.WhenAny(running.Done.Task, Task.Delay(InterruptRepeat, _time, _end.Token));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The sandbox ended meanwhile: so did the call.
        }
    }

    /// <summary>Writes one whole frame: calls, input, interrupts and file operations share the stream.</summary>
    private async Task WriteAsync(byte[] frame, CancellationToken cancellationToken) => await WriteIfAsync(frame, when: null, cancellationToken);

    /// <summary>Writes one whole frame if <paramref name="when"/> (asked under the write lock) holds; whether it did.</summary>
    private async Task<bool> WriteIfAsync(byte[] frame, Func<bool>? when, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (when is not null && !when())
            {
                return false;
            }
            await _stream.WriteAsync(frame, 0, frame.Length, cancellationToken);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadAsync()
    {
        await Task.Yield();
        var buffer = _pending?.Buffer ?? new byte[SandboxRunner.ReadBufferSize];
        var waiting = _pending?.Task;
        var frames = new List<KernelFrame>();
        try
        {
            while (!_ended.Task.IsCompleted)
            {
                var read = waiting is null
                    ? await _stream.ReadOutputAsync(buffer, 0, buffer.Length, _end.Token)
                    : await waiting.WaitAsync(_end.Token);
                waiting = null;
                if (read.EOF)
                {
                    if (_diagnostics.Count > 0)
                    {
                        // What the launcher said stays in this runner's log: it may name the host's internals.
                        LogLauncherSaid(SandboxId, Encoding.UTF8.GetString([.. _diagnostics]).Trim());
                    }
                    End("its container ended");
                    return;
                }
                if (read.Target != MultiplexedStream.TargetStream.StandardOut)
                {
                    // The launcher's own stderr: only its failures write there.
                    _diagnostics.AddRange(buffer.AsSpan(0, Math.Min(read.Count, Math.Max(0, DiagnosticsLimit - _diagnostics.Count))));
                    continue;
                }
                _frames.Feed(buffer.AsSpan(0, read.Count), frames);
                foreach (var frame in frames)
                {
                    if (Handle(frame) is { } problem)
                    {
                        End($"it broke the kernel protocol: {problem}");
                        return;
                    }
                }
                frames.Clear();
                if (_frames.Corrupt)
                {
                    End($"it broke the kernel protocol: it {_frames.Problem}");
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            if (!_ended.Task.IsCompleted) // else the end closed the stream: nothing broke
            {
                LogStreamBroke(SandboxId, e.Message);
                End("its stream broke");
            }
        }
    }

    /// <summary>Hands one frame to what waits for it; returns what is wrong with it, if anything.</summary>
    private string? Handle(KernelFrame frame)
    {
        switch (frame.Kind)
        {
            case LauncherFrames.KernelReady:
                return _kernelReady.TrySetResult() ? null : "a second kernel-ready frame";
            case LauncherFrames.Stdout or LauncherFrames.Stderr:
                if (_running is { Output: { } output } running)
                {
                    output.Write(frame.Kind == LauncherFrames.Stdout, frame.Payload);
                    output.Streams.TakeNew(running.Relay!.Send); // live, for whoever follows the call
                }
                return null; // a call's output after its record: the launcher's pipes drained late; nobody wants it
            case LauncherFrames.Message:
                return _running is not { Output: { } messages } || messages.AddMessage(frame.Payload) ? null : "a message that is not a JSON object";
            case LauncherFrames.CallRecord:
                return HandleRecord(frame.Payload);
            case LauncherFrames.FileAnswer:
                return HandleFileAnswer(frame.Payload);
            case LauncherFrames.Accepted:
                Accepted = true;
                return null;
            default:
                return null; // 'r': the launcher's boot, which a cold container's attach may still see
        }
    }

    private string? HandleRecord(byte[] payload)
    {
        KernelCallRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(payload, KernelJsonContext.Default.KernelCallRecord);
        }
        catch (JsonException)
        {
            return "a call record that is not JSON";
        }
        if (record is null)
        {
            return "an empty call record";
        }
        if (_running is { } running && running.Id == record.Id)
        {
            running.Done.TrySetResult(record);
        }
        return null;
    }

    private string? HandleFileAnswer(byte[] payload)
    {
        if (KernelFrameReader.SplitLine(payload) is not var (line, content))
        {
            return "a file answer without its line";
        }
        KernelFileAnswer? answer;
        try
        {
            answer = JsonSerializer.Deserialize(line.Span, KernelJsonContext.Default.KernelFileAnswer);
        }
        catch (JsonException)
        {
            return "a file answer that is not JSON";
        }
        if (answer is null)
        {
            return "an empty file answer";
        }
        if (content.Length > _settings.Files.MaxFileBytes)
        {
            return $"a file of {content.Length} bytes (at most {_settings.Files.MaxFileBytes})";
        }
        if (_fileOperations.TryGetValue(answer.Id, out var waiting))
        {
            waiting.TrySetResult((answer, content.ToArray()));
        }
        return null;
    }

    private sealed record Queued(RunJob Job, int TimeoutSeconds)
    {
        public TaskCompletionSource<RunResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The call or restart the launcher works on: its record ends it.</summary>
    private sealed record Running(string Id, CallOutput? Output)
    {
        public TaskCompletionSource<KernelCallRecord> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public OutputRelay? Relay { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The stream of sandbox {SandboxId} broke: {Reason}")]
    private partial void LogStreamBroke(string sandboxId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The launcher of sandbox {SandboxId} said: {Diagnostics}")]
    private partial void LogLauncherSaid(string sandboxId, string diagnostics);

    [LoggerMessage(Level = LogLevel.Error, Message = "Command {SessionId} to sandbox {SandboxId} failed on the host")]
    private partial void LogCommandFailed(string sandboxId, string sessionId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox {SandboxId} (container {ContainerId}) ended: {Reason}")]
    private partial void LogEnded(string sandboxId, string containerId, string reason);
}

/// <summary>What a sandbox's calls and file operations are held to, and where their output and input go.</summary>
public sealed record SandboxCallSettings(
    KernelFileBounds Files,
    long OutputLimitBytes,
    int MemoryMb,
    TimeSpan StartTimeout,
    TimeSpan FileTimeout,
    TimeSpan KillGrace,
    SessionClient Session,
    string Host)
{
    /// <summary>For a sandbox with egress: its kernel job tells the launcher to relay to the sandbox's proxy (frames.md).</summary>
    public LauncherEgress? Egress { get; init; }
}
