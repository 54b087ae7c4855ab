using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using Executor.Contracts;

namespace Executor.Runner.Egress;

/// <summary>
/// One run's egress proxy: its socket's directory, the connections it made or refused, and its limits. Disposing it
/// closes the socket and every open connection and removes the directory.
/// </summary>
public sealed partial class EgressLease : IAsyncDisposable
{
    /// <summary>
    /// Records kept, and connections held open at once, past the connection limit: a run hammering its proxy can grow
    /// neither its result nor the host's memory and descriptors without end.
    /// </summary>
    private const int Slack = 16;

    private readonly EgressProxy _proxy;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _limit = new();
    private readonly CancellationTokenSource _cut;
    private readonly List<ConnectionRecord> _records = [];
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<Task, bool> _open = new();
    private readonly Task _accepting;
    private int _taken;
    private int _attempts;
    private long _bytes;
    private int _disposed;

    internal EgressLease(EgressProxy proxy, string runId, EgressPolicy policy, string directory, Socket listener)
    {
        _proxy = proxy;
        RunId = runId;
        Policy = policy;
        Directory = directory;
        _listener = listener;
        _cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _limit.Token);
        _accepting = AcceptAsync();
    }

    public string RunId { get; }

    public EgressPolicy Policy { get; }

    /// <summary>The host directory holding proxy.sock, to mount read-only at <see cref="LauncherEgress.Directory"/>.</summary>
    public string Directory { get; }

    /// <summary>Every connection attempt so far, in order; those still open with their bytes so far.</summary>
    public IReadOnlyList<EgressConnection> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _records.Select(r => r.Snapshot(_proxy.Time))];
            }
        }
    }

    /// <summary>Cancelled when the run passed its byte or connection limit: the runner then ends the run.</summary>
    public CancellationToken LimitExceeded => _limit.Token;

    /// <summary>Which limit the run passed, in a sentence, once <see cref="LimitExceeded"/> is cancelled.</summary>
    public string? LimitDetail { get; private set; }

    /// <summary>The refusal that stands for the limit passed (byte_limit or connection_limit), for the attempts after it.</summary>
    internal string? LimitRefusal { get; private set; }

    /// <summary>Stopped on dispose and when a limit is passed: every connection of the lease ends then.</summary>
    internal CancellationToken Cut => _cut.Token;

    /// <summary>Stopped on dispose only.</summary>
    internal CancellationToken Stopping => _stop.Token;

    /// <summary>
    /// The attempts recorded since the last call (a stateful sandbox reports each call's); one still open is reported
    /// with its bytes so far, and not again.
    /// </summary>
    public IReadOnlyList<EgressConnection> TakeNew()
    {
        lock (_lock)
        {
            var fresh = _records.Skip(_taken).Select(r => r.Snapshot(_proxy.Time)).ToList();
            _taken = _records.Count;
            return fresh;
        }
    }

    internal ConnectionRecord Record(string destination)
    {
        var record = new ConnectionRecord(_proxy.Time.GetUtcNow(), _proxy.Time.GetTimestamp(), destination);
        lock (_lock)
        {
            if (_records.Count < Policy.MaxConnections + Slack)
            {
                _records.Add(record);
            }
        }
        return record;
    }

    /// <summary>Counts an attempt; false (and the limit passed) when it is one more than the run may make.</summary>
    internal bool TryAttempt()
    {
        if (Interlocked.Increment(ref _attempts) <= Policy.MaxConnections)
        {
            return true;
        }
        Exceed(EgressRefusals.ConnectionLimit,
            string.Create(CultureInfo.InvariantCulture, $"The run opened more than {Policy.MaxConnections} connections through the egress proxy."));
        return false;
    }

    /// <summary>Counts bytes about to move; false (and the limit passed) when they would take the run past its bytes.</summary>
    internal bool TryMove(int bytes)
    {
        if (Interlocked.Add(ref _bytes, bytes) <= Policy.MaxBytes)
        {
            return true;
        }
        Exceed(EgressRefusals.ByteLimit, string.Create(CultureInfo.InvariantCulture, $"The run moved more than {Policy.MaxBytes} bytes through the egress proxy."));
        return false;
    }

    private void Exceed(string refusal, string detail)
    {
        lock (_lock)
        {
            if (LimitDetail is not null)
            {
                return;
            }
            LimitRefusal = refusal;
            LimitDetail = detail;
        }
        LogLimit(_proxy.Logger, RunId, detail);
        _limit.Cancel();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // A failed accept (out of descriptors, say) must not end the run's proxy; breathe and go on.
                LogAcceptFailed(_proxy.Logger, RunId, e.SocketErrorCode);
                await Task.Delay(TimeSpan.FromMilliseconds(50), _proxy.Time, CancellationToken.None);
                continue;
            }
            if (_open.Count >= Policy.MaxConnections + Slack)
            {
                // More at once than the run may ever be allowed: not even read, nor recorded.
                client.Dispose();
                continue;
            }
            var exchange = Task.Run(() => new EgressExchange(_proxy, this, client).RunAsync());
            _open[exchange] = true;
            _ = exchange.ContinueWith(t => _open.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        await Task.WhenAll(_open.Keys);
        _cut.Dispose();
        _stop.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(_proxy.Logger, RunId, Directory, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} passed its egress limit: {Detail}")]
    private static partial void LogLimit(ILogger logger, string runId, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Egress proxy of run {RunId} could not accept a connection: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, string runId, SocketError error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Egress proxy of run {RunId} could not remove {Directory}: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string runId, string directory, string reason);
}

/// <summary>One attempt as it happens: the exchange fills it in, the lease reads it whenever asked.</summary>
internal sealed class ConnectionRecord(DateTimeOffset at, long started, string destination)
{
    private long _sent;
    private long _received;
    private long _ended;

    public string Destination { get; } = destination;

    public bool Allowed { get; set; }

    public string? Refused { get; set; }

    public string? Address { get; set; }

    public bool Intercepted { get; set; }

    public long BytesSent => Volatile.Read(ref _sent);

    public long BytesReceived => Volatile.Read(ref _received);

    public void AddSent(int bytes) => Interlocked.Add(ref _sent, bytes);

    public void AddReceived(int bytes) => Interlocked.Add(ref _received, bytes);

    public void End(TimeProvider time) => Interlocked.CompareExchange(ref _ended, time.GetTimestamp(), 0);

    public EgressConnection Snapshot(TimeProvider time)
    {
        var ended = Volatile.Read(ref _ended);
        return new(at, Destination, Allowed, Refused, Address, BytesSent, BytesReceived,
            Math.Round(time.GetElapsedTime(started, ended == 0 ? time.GetTimestamp() : ended).TotalMilliseconds, 3), Intercepted);
    }
}
