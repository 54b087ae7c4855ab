using System.Threading.Channels;
using Executor.SessionCore.Dispatch;
using Npgsql;

namespace Executor.SessionCore.Storage;

/// <summary>
/// Signals between SessionService replicas over PostgreSQL's LISTEN/NOTIFY (channel "executor"). Publishing never
/// waits on the hot path: notifications queue up and one sender sends them in order. Each carries this replica's
/// id, so a replica ignores its own. NOTIFY is not stored: a replica that was disconnected misses what was said
/// meanwhile, which its <see cref="Dispatch.StoreWatch"/> and the waiters' own periodic looks cover.
/// </summary>
public sealed partial class PostgresSignalRelay(NpgsqlDataSource dataSource, ILogger<PostgresSignalRelay> logger) : BackgroundService, ISignalRelay
{
    private const string Channel = "executor";
    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(1);
    private const int MaxBatch = 256;

    private readonly string _replica = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
    private readonly Channel<string> _outbox = System.Threading.Channels.Channel.CreateBounded<string>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private Action<string> _receive = _ => { };

    public void Publish(string signal) => _outbox.Writer.TryWrite(signal);

    public void Subscribe(Action<string> receive) => _receive = receive;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), SendAsync(stoppingToken));

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    var (from, signal) = Split(e.Payload);
                    if (from != _replica)
                    {
                        _receive(signal);
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogListenFailed(e.Message);
                await Task.Delay(Reconnect, stoppingToken);
            }
        }
    }

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        var batch = new List<string>(MaxBatch);
        while (await _outbox.Reader.WaitToReadAsync(stoppingToken))
        {
            // Whatever queued up meanwhile goes in the same statement: under load one round trip (and one transaction)
            // carries many signals, in the order sent. Each is numbered: PostgreSQL folds a transaction's identical
            // notifications into one, and two "work" signals wake two claims.
            batch.Clear();
            while (batch.Count < MaxBatch && _outbox.Reader.TryRead(out var signal))
            {
                batch.Add($"{_replica}:{batch.Count} {signal}");
            }
            try
            {
                await using var command = dataSource.CreateCommand("SELECT pg_notify(@channel, payload) FROM unnest(@payloads) WITH ORDINALITY AS s(payload, n) ORDER BY n");
                command.Parameters.AddWithValue("channel", Channel);
                command.Parameters.AddWithValue("payloads", batch.ToArray());
                await command.ExecuteNonQueryAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogNotifyFailed(e.Message); // the other replicas' queue watch looks again within a second
            }
        }
    }

    private static (string From, string Signal) Split(string payload)
    {
        var space = payload.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0)
        {
            return ("", payload);
        }
        var sender = payload[..space];
        var number = sender.IndexOf(':', StringComparison.Ordinal);
        return (number < 0 ? sender : sender[..number], payload[(space + 1)..]);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for other replicas' signals failed ({Reason}); reconnecting")]
    private partial void LogListenFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not notify the other replicas: {Reason}")]
    private partial void LogNotifyFailed(string reason);
}
