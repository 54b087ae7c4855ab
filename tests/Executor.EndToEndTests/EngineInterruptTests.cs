using System.Globalization;

namespace Executor.EndToEndTests;

/// <summary>
/// Ctrl+C in a terminal interrupts its whole foreground process group. A Docker engine that the scripts start
/// (eng/common.sh start_engine: the machine's engine in eng/prerequisites.sh, private ones in eng/private-engine.sh)
/// must not be in it, or stopping ./run.sh would stop the engine with every container on it. Proven on a private
/// engine of this test's own: the machine's engine is never touched.
/// </summary>
[Collection(ShutdownCollection.Name)]
public sealed class EngineInterruptTests
{
    private const string Name = "tests-ctrl-c";

    private static readonly string Script = Path.Combine(Repository.Root, "eng", "private-engine.sh");

    [Fact]
    public async Task Ctrl_c_in_the_terminal_that_started_an_engine_leaves_the_engine_running()
    {
        await Shell.RunAsync($"{Script} wipe {Name}");
        try
        {
            // A process group of its own, as a terminal's foreground job: it starts the engine, says the engine's pid,
            // and interrupts the whole group (its shell ignores the interrupt, so it ends well and the test can read it).
            var pid = int.Parse(await Shell.RunAsync(
                $"setsid -w sh -c '{Script} start {Name} >/dev/null && cat /var/tmp/executor-engines/{Name}/docker.pid && trap \"\" INT && kill -INT 0'"),
                CultureInfo.InvariantCulture);

            // An interrupted dockerd shuts down within its --shutdown-timeout of 2 s: give it ample time to.
            for (var i = 0; i < 50 && Alive(pid); i++)
            {
                await Task.Delay(200);
            }

            Assert.True(Alive(pid), $"the engine (pid {pid}) stopped on the terminal's interrupt");
            await Shell.RunAsync($"docker -H unix:///var/tmp/executor-engines/{Name}/docker.sock info >/dev/null");
        }
        finally
        {
            await Shell.RunAsync($"{Script} wipe {Name}");
        }
    }

    /// <summary>Running, not a zombie waiting for its parent.</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
