using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Executor.SessionCore.Access;

namespace Executor.ServiceTests;

/// <summary>
/// E2B's API as SessionService answers it, through the gateway, with a fake host holding the sandboxes: the error shapes
/// E2B's SDKs read, the key in E2B's form, and the data plane's own token. The SDKs themselves drive it end to end.
/// </summary>
public sealed class E2bTests(KeyedServiceFixture service) : IClassFixture<KeyedServiceFixture>
{
    [Fact]
    public async Task The_control_plane_takes_the_key_in_e2b_form_and_answers_e2b_s_error_shapes()
    {
        using var anonymous = service.With(null);
        using (var refused = await anonymous.PostAsJsonAsync("/e2b/v2/sandboxes", new { templateID = "base" }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        var (_, key) = await service.CreateKeyAsync("e2b-shapes");
        using var client = service.With(null);
        client.DefaultRequestHeaders.Add("X-API-KEY", ApiKeys.ToE2bForm(key));

        using (var missing = await client.DeleteAsync("/e2b/sandboxes/sbx_0123456789abcdef"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            var body = await missing.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(404, body.GetProperty("code").GetInt32()); // what makes the SDK's kill() return false
            Assert.Contains("not found", body.GetProperty("message").GetString());
        }
        foreach (var (request, says) in new (object Request, string Says)[]
        {
            (new { templateID = "base", allow_internet_access = true }, "may reach nothing"), // the operator allows this key no egress
            (new { templateID = "base", network = new { denyOut = new[] { "10.0.0.0/8" } } }, "network.denyOut"),
            (new { templateID = "base", volumeMounts = new[] { new { name = "v", path = "/data" } } }, "volumes"),
            (new { templateID = "no-such-runtime" }, "no-such-runtime"),
        })
        {
            using var response = await client.PostAsJsonAsync("/e2b/v2/sandboxes", request);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(400, body.GetProperty("code").GetInt32());
            Assert.Contains(says, body.GetProperty("message").GetString());
        }
        using (var pause = await client.PostAsync("/e2b/sandboxes/sbx_0123456789abcdef/pause", null))
        {
            Assert.Equal(HttpStatusCode.NotImplemented, pause.StatusCode);
            Assert.Equal(501, (await pause.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetInt32());
        }
    }

    [Fact]
    public async Task The_data_plane_takes_the_sandbox_s_own_token_and_another_key_sees_no_sandbox()
    {
        var (_, key) = await service.CreateKeyAsync("e2b-tokens");
        using var client = service.With(key);
        using var created = await client.PostAsJsonAsync("/e2b/v2/sandboxes", new { templateID = "code-interpreter-v1", metadata = new { app = "t" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var sandbox = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = sandbox.GetProperty("sandboxID").GetString()!;
        var token = sandbox.GetProperty("envdAccessToken").GetString()!;
        Assert.Equal(token, sandbox.GetProperty("trafficAccessToken").GetString());
        Assert.Equal("0.5.7", sandbox.GetProperty("envdVersion").GetString());

        async Task<HttpStatusCode> HealthAsync(string? presented)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/health");
            request.Headers.Add("E2b-Sandbox-Id", id);
            request.Headers.Add("E2b-Sandbox-Port", "49983");
            if (presented is not null)
            {
                request.Headers.Add("X-Access-Token", presented);
            }
            using var anonymous = service.With(null);
            using var response = await anonymous.SendAsync(request);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.NoContent, await HealthAsync(token));
        Assert.Equal(HttpStatusCode.Unauthorized, await HealthAsync(null));
        Assert.Equal(HttpStatusCode.BadGateway, await HealthAsync(token + "x"));

        var (_, other) = await service.CreateKeyAsync("e2b-other");
        using (var asOther = service.With(other))
        {
            using var seen = await asOther.GetAsync($"/e2b/sandboxes/{id}");
            Assert.Equal(HttpStatusCode.NotFound, seen.StatusCode);
            using var killed = await asOther.DeleteAsync($"/e2b/sandboxes/{id}");
            Assert.Equal(HttpStatusCode.NotFound, killed.StatusCode);
        }
        var info = await client.GetFromJsonAsync<JsonElement>($"/e2b/sandboxes/{id}");
        Assert.Equal("t", info.GetProperty("metadata").GetProperty("app").GetString());
        using (var kill = await client.DeleteAsync($"/e2b/sandboxes/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, kill.StatusCode);
        }
        Assert.Equal(HttpStatusCode.BadGateway, await HealthAsync(token));
        using (var again = await client.DeleteAsync($"/e2b/sandboxes/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }
    }

    [Fact]
    public async Task A_created_key_is_shown_in_e2b_form_too()
    {
        using var response = await service.Operator.PostAsJsonAsync("/admin/keys", new { name = "e2b-form" });
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(ApiKeys.ToE2bForm(created.GetProperty("key").GetString()!), created.GetProperty("e2b_key").GetString());
    }
}
