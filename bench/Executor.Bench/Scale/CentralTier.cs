using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Npgsql;

namespace Executor.Bench.Scale;

/// <summary>
/// The distributed mode's central tier alone, as the AppHost starts it: PostgreSQL, <see cref="Replicas"/> SessionService
/// replicas and the gateway, and no runner host (the simulated ones play them, with credentials derived from the
/// deployment's host secret, which the bench gives the AppHost). It reads what the tier spends: the processes' CPU and
/// memory, and PostgreSQL's own statistics.
/// </summary>
public sealed class CentralTier : IAsyncDisposable
{
    private static readonly string[] TierProcesses = ["SessionService", "Gateway"];

    private readonly DistributedApplication _app;

    private readonly string _postmasterPid;

    /// <summary>
    /// The bench's own connection, opened before any host joins: the readings never compete with the replicas' pools
    /// for PostgreSQL's last connections (a hundred hosts joining at once can take them all). One reader at a time.
    /// </summary>
    private readonly NpgsqlConnection _connection;
    private readonly SemaphoreSlim _reading = new(1, 1);

    private CentralTier(DistributedApplication app, int replicas, string secret, NpgsqlConnection connection, string data)
    {
        _app = app;
        _connection = connection;
        _postmasterPid = Path.Combine(data, "postgres", "data", "postmaster.pid");
        Replicas = replicas;
        HostSecret = secret;
        Gateway = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = app.GetEndpoint("gateway", "http"),
            Timeout = TimeSpan.FromMinutes(2),
        };
        ReplicaEndpoints = [.. Enumerable.Range(1, replicas).Select(i => app.GetEndpoint(replicas == 1 ? "session" : $"session-{i}", "http"))];
    }

    public int Replicas { get; }

    public string HostSecret { get; }

    public HttpClient Gateway { get; }

    /// <summary>Each replica's own endpoint: hosts are spread over them, as a Service's load balancing would.</summary>
    public IReadOnlyList<Uri> ReplicaEndpoints { get; }

    public static async Task<CentralTier> StartAsync(int replicas)
    {
        var data = Path.Combine(Path.GetTempPath(), "executor-scale-" + Guid.NewGuid().ToString("N"));
        var port = Stack.FreePort();
        var secret = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var app = await Stack.StartAppAsync(
            [
                $"--Executor:DataDirectory={data}",
                "--Executor:Mode=distributed",
                $"--Executor:SessionReplicas={replicas}",
                "--Executor:RunnerHosts=0",
                $"--Executor:PostgresPort={port}",
                $"--Executor:HostSecret={secret}",
            ],
            [.. Enumerable.Range(1, replicas).Select(i => replicas == 1 ? "session" : $"session-{i}"), "gateway"]);
        var password = (await File.ReadAllTextAsync(Path.Combine(data, "postgres", "password"))).Trim();
        var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Database=executor;Username=executor;Password={password};Pooling=false");
        await connection.OpenAsync();
        return new CentralTier(app, replicas, secret, connection, data);
    }

    /// <summary>What the tier's processes and PostgreSQL have spent so far; two of these make a <see cref="Usage"/>.</summary>
    public async Task<Reading> ReadAsync()
    {
        var cpu = new Dictionary<string, double>();
        var rss = new Dictionary<string, double>();
        foreach (var name in TierProcesses)
        {
            foreach (var process in Process.GetProcessesByName(name).Where(p => Stack.Ours(p.Id)))
            {
                cpu[name] = cpu.GetValueOrDefault(name) + CpuSeconds(process.Id);
                rss[name] = rss.GetValueOrDefault(name) + process.WorkingSet64 / 1024.0 / 1024;
            }
        }
        // The bench itself (the simulated hosts and the clients) shares the machine's cores with the tier.
        cpu["bench"] = CpuSeconds(Environment.ProcessId);
        // PostgreSQL: the postmaster and every backend it started (those that ended are in its children's time).
        var postmaster = int.Parse(File.ReadLines(_postmasterPid).First(), CultureInfo.InvariantCulture);
        cpu["postgres"] = CpuSeconds(postmaster) + Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && ParentOf(pid) == postmaster)
            .Sum(CpuSeconds);
        return await OnConnectionAsync(async connection =>
        {
            var at = Stopwatch.GetTimestamp();
            await using var command = new NpgsqlCommand("""
            SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted + tup_updated + tup_deleted, deadlocks,
                   (SELECT count(*) FROM pg_stat_activity WHERE datname = 'executor'),
                   (SELECT count(*) FROM pg_stat_activity WHERE datname = 'executor' AND wait_event_type = 'Lock')
            FROM pg_stat_database WHERE datname = 'executor'
            """, connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return new Reading(at, cpu, rss, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3),
                (int)reader.GetInt64(4) - 1, (int)reader.GetInt64(5));
        });
    }

    /// <summary>Each session's status, creation time and output, as the store has them (the check after a run).</summary>
    public Task<Dictionary<string, (string Status, DateTimeOffset CreatedAt, string? Logs)>> SessionsAsync(IReadOnlyCollection<string> ids) =>
        OnConnectionAsync(async connection =>
        {
            var found = new Dictionary<string, (string, DateTimeOffset, string?)>();
            await using var command = new NpgsqlCommand(
                "SELECT id, status, created_at, result::json->>'logs' FROM sessions WHERE id = ANY(@ids)", connection);
            command.Parameters.AddWithValue("ids", ids.ToArray());
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                found[reader.GetString(0)] = (reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.IsDBNull(3) ? null : reader.GetString(3));
            }
            return found;
        });

    /// <summary>Runs <paramref name="read"/> on the bench's own connection, one reader at a time.</summary>
    private async Task<T> OnConnectionAsync<T>(Func<NpgsqlConnection, Task<T>> read)
    {
        await _reading.WaitAsync();
        try
        {
            return await read(_connection);
        }
        finally
        {
            _reading.Release();
        }
    }

    /// <summary>utime + stime of the process, and of its children it waited for (a backend that ended), in seconds.</summary>
    private static double CpuSeconds(int pid)
    {
        try
        {
            var fields = Stack.StatFields(pid);
            return (fields[11] + fields[12] + fields[13] + fields[14]) / 100.0; // clock ticks, 100 a second
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static int ParentOf(int pid)
    {
        try
        {
            return (int)Stack.StatFields(pid)[1];
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Gateway.Dispose();
        await _connection.DisposeAsync();
        _reading.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The tier's counters at one moment: CPU seconds and resident MiB by process name, PostgreSQL's totals.</summary>
public sealed record Reading(
    long At, Dictionary<string, double> CpuSeconds, Dictionary<string, double> ResidentMib, long Transactions, long RowsRead, long RowsWritten,
    long Deadlocks, int Connections, int LockWaits)
{
    /// <summary>What was spent between <paramref name="before"/> and this reading, a second.</summary>
    public Usage Since(Reading before)
    {
        var seconds = Stopwatch.GetElapsedTime(before.At, At).TotalSeconds;
        double Rate(double now, double then) => (now - then) / seconds;
        return new Usage(
            seconds,
            CpuSeconds.ToDictionary(c => c.Key, c => Rate(c.Value, before.CpuSeconds.GetValueOrDefault(c.Key))),
            ResidentMib,
            Rate(Transactions, before.Transactions),
            Rate(RowsRead, before.RowsRead),
            Rate(RowsWritten, before.RowsWritten),
            Deadlocks - before.Deadlocks);
    }
}

/// <summary>Rates over an interval: cores busy by process name, PostgreSQL's transactions and rows a second.</summary>
public sealed record Usage(
    double Seconds, Dictionary<string, double> Cores, Dictionary<string, double> ResidentMib, double TransactionsPerSecond,
    double RowsReadPerSecond, double RowsWrittenPerSecond, long Deadlocks)
{
    public double CoresOf(string process) => Cores.GetValueOrDefault(process);
}
