using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Executor.ServiceTests;

/// <summary>
/// Jupyter Server's REST API on the sandboxes, with a fake host holding them: the shapes and status codes Jupyter's
/// clients check, the key as Jupyter's token (header and query), ownership, and sessions. The kernels' messages are
/// proven end to end with the real clients.
/// </summary>
public sealed partial class JupyterApiTests(KeyedServiceFixture service) : IClassFixture<KeyedServiceFixture>
{
    [Fact]
    public async Task Kernel_specs_name_every_runtime_and_python3_is_the_default()
    {
        using var client = await ClientAsync("specs");
        var specs = await client.GetFromJsonAsync<JsonElement>("/api/kernelspecs");

        Assert.Equal("python3", specs.GetProperty("default").GetString());
        var names = specs.GetProperty("kernelspecs").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["python3", .. FakeRunnerHost.Runtimes.Select(r => r.Id)], names);
        var python = specs.GetProperty("kernelspecs").GetProperty("python3");
        Assert.Equal(("python", JsonValueKind.Array), (python.GetProperty("spec").GetProperty("language").GetString(),
            python.GetProperty("spec").GetProperty("argv").ValueKind));
        using var missing = await client.GetAsync("/api/kernelspecs/ruby");
        await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.NotFound, "kernelspec-not-found");
        Assert.Equal(HttpStatusCode.OK, (await service.With(null).GetAsync("/api")).StatusCode);
    }

    [Fact]
    public async Task A_kernel_is_a_sandbox_started_listed_read_interrupted_restarted_and_deleted_with_jupyters_status_codes()
    {
        using var client = await ClientAsync("kernels");
        // As @jupyterlab/services sends it: JSON as text/plain, a cache-busting query.
        using var started = await client.PostAsync("/api/kernels?1700000000000", new StringContent("""{"name":"python3"}""", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var kernel = await started.Content.ReadFromJsonAsync<JsonElement>();
        var id = kernel.GetProperty("id").GetString()!;

        Assert.True(Guid.TryParseExact(id, "D", out _), id);
        Assert.Equal($"/api/kernels/{id}", started.Headers.Location?.OriginalString);
        Assert.Equal(("python3", "idle", 0), (kernel.GetProperty("name").GetString(), kernel.GetProperty("execution_state").GetString(),
            kernel.GetProperty("connections").GetInt32()));
        Assert.Matches(JupyterTimestamp(), kernel.GetProperty("last_activity").GetString());
        var sandbox = await client.GetFromJsonAsync<JsonElement>($"/sandboxes/sbx_{id.Replace("-", "", StringComparison.Ordinal)}");
        Assert.Equal("running", sandbox.GetProperty("state").GetString());

        var listed = await client.GetFromJsonAsync<JsonElement>("/api/kernels");
        Assert.Contains(listed.EnumerateArray(), k => k.GetProperty("id").GetString() == id);
        Assert.Equal(id, (await client.GetFromJsonAsync<JsonElement>($"/api/kernels/{id}")).GetProperty("id").GetString());

        using (var interrupted = await client.PostAsync($"/api/kernels/{id}/interrupt", null))
        {
            Assert.Equal(HttpStatusCode.NoContent, interrupted.StatusCode);
        }
        using (var restarted = await client.PostAsync($"/api/kernels/{id}/restart", new StringContent("{}")))
        {
            Assert.Equal(HttpStatusCode.OK, restarted.StatusCode);
            Assert.Equal(id, (await restarted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        }
        using (var deleted = await client.DeleteAsync($"/api/kernels/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        using var gone = await client.GetAsync($"/api/kernels/{id}");
        await ProblemAssert.IsProblemAsync(gone, HttpStatusCode.NotFound, "kernel-not-found");
        Assert.DoesNotContain((await client.GetFromJsonAsync<JsonElement>("/api/kernels")).EnumerateArray(), k => k.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task The_key_is_a_token_in_the_query_and_another_keys_kernel_is_not_found()
    {
        var (_, key) = await service.CreateKeyAsync("jupyter-owner");
        using var owner = service.With(null);
        owner.DefaultRequestHeaders.Add("Authorization", "token " + key);
        using var started = await owner.PostAsync("/api/kernels", new StringContent("{}"));
        var id = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using var other = await ClientAsync("other");
        using var anonymous = service.With(null);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/api/kernels/{id}?token={key}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/kernels/{id}")).StatusCode);
        await ProblemAssert.IsProblemAsync(await other.GetAsync($"/api/kernels/{id}"), HttpStatusCode.NotFound, "kernel-not-found");
        await ProblemAssert.IsProblemAsync(await other.DeleteAsync($"/api/kernels/{id}"), HttpStatusCode.NotFound, "kernel-not-found");
        Assert.Empty((await other.GetFromJsonAsync<JsonElement>("/api/kernels")).EnumerateArray());
        using var unknown = await owner.PostAsync("/api/kernels", new StringContent("""{"name":"ruby"}"""));
        await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound, "kernelspec-not-found");
        await owner.DeleteAsync($"/api/kernels/{id}");
    }

    [Fact]
    public async Task A_session_is_created_with_its_kernel_found_renamed_listed_and_deleted_with_it()
    {
        using var client = await ClientAsync("sessions");
        using var created = await client.PostAsync("/api/sessions",
            new StringContent("""{"path":"a.ipynb","name":"a.ipynb","type":"notebook","kernel":{"name":"python3"}}""", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var session = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = session.GetProperty("id").GetString()!;
        var kernelId = session.GetProperty("kernel").GetProperty("id").GetString()!;
        Assert.Equal(("a.ipynb", "notebook"), (session.GetProperty("path").GetString(), session.GetProperty("type").GetString()));

        using (var again = await client.PostAsync("/api/sessions", new StringContent("""{"path":"a.ipynb","type":"notebook","kernel":{"name":"python3"}}""")))
        {
            Assert.Equal(id, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()); // one session per path
        }
        using (var renamed = await client.PatchAsync($"/api/sessions/{id}", new StringContent("""{"path":"b.ipynb","name":"b.ipynb"}""")))
        {
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        }
        var read = await client.GetFromJsonAsync<JsonElement>($"/api/sessions/{id}");
        Assert.Equal(("b.ipynb", kernelId), (read.GetProperty("path").GetString(), read.GetProperty("kernel").GetProperty("id").GetString()));
        Assert.Contains((await client.GetFromJsonAsync<JsonElement>("/api/sessions")).EnumerateArray(), s => s.GetProperty("id").GetString() == id);

        using (var deleted = await client.DeleteAsync($"/api/sessions/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        await ProblemAssert.IsProblemAsync(await client.GetAsync($"/api/sessions/{id}"), HttpStatusCode.NotFound, "jupyter-session-not-found");
        await ProblemAssert.IsProblemAsync(await client.GetAsync($"/api/kernels/{kernelId}"), HttpStatusCode.NotFound, "kernel-not-found");
    }

    private async Task<HttpClient> ClientAsync(string name)
    {
        var (_, key) = await service.CreateKeyAsync($"jupyter-{name}");
        var client = service.With(null);
        client.DefaultRequestHeaders.Add("Authorization", "token " + key);
        return client;
    }

    /// <summary>What Jupyter Server's gateway client parses: %Y-%m-%dT%H:%M:%S.%fZ.</summary>
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")]
    private static partial Regex JupyterTimestamp();
}
