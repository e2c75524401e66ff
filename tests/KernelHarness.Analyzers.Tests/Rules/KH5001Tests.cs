using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH5001Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("jiffies > local deadline", @"bool f() { ulong timeout = jiffies + HZ; return [|jiffies > timeout|]; }"),
        Case("jiffies < field", @"ulong deadline; void arm() { deadline = jiffies + 5 * HZ; } bool f() => [|jiffies < deadline|];"),
        Case("jiffies >= jiffies + HZ inline", @"bool f(ulong start) => [|jiffies >= start + HZ|];"),
        Case("derived local on the left", @"bool f() { var now = jiffies; ulong last = 0; return [|now <= last|]; }"),
        Case("field compared with field", @"ulong last_rx, stamp; void rx() { last_rx = jiffies; } void tick() { stamp = jiffies - HZ; } bool stale() => [|stamp > last_rx|];"),
        Case("parameter that receives a time", @"bool expired(ulong when) => [|jiffies > when|]; bool f() => expired(jiffies + HZ);"),
        Case("loop condition", @"void f() { ulong end = jiffies + msecs_to_jiffies(10); while ([|jiffies < end|]) cpu_relax(); }"),
        Case("timer expiry field compared with jiffies", @"void arm() { timer.expires = jiffies + 2 * HZ; add_timer(timer); } bool overdue() => [|jiffies > timer.expires|];"),
        Case("deadline on the left, jiffies on the right", @"ulong deadline; void arm() { deadline = jiffies + HZ / 2; } void f() { while ([|deadline > jiffies|]) cpu_relax(); }"),
        Case("remaining timeout computed under a raw comparison", @"ulong deadline; void arm() { deadline = jiffies + 10 * HZ; } ulong remaining() => [|jiffies < deadline|] ? deadline - jiffies : 0;"),
        Case("property holding a last-seen stamp", @"ulong LastSeen { get; set; } void rx() { LastSeen = jiffies; } bool link_down() => [|jiffies >= LastSeen + 5 * HZ|];"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("subtraction compared against a duration", @"bool f(ulong start) => jiffies - start > HZ;"),
        Case("elapsed duration in a local", @"bool f(ulong start) { var elapsed = jiffies - start; return elapsed >= 2 * HZ; }"),
        Case("time_after", @"bool f(ulong t) => time_after(jiffies, t + HZ);"),
        Case("time_before_eq", @"bool f() { var end = jiffies + HZ; return time_before_eq(jiffies, end); }"),
        Case("unrelated comparison", @"bool f(int a, int b) => a < b;"),
        Case("jiffies compared with a constant", @"bool f() => jiffies > 0;"),
        Case("equality is not ordering", @"bool f(ulong t) => jiffies == t;"),
        Case("open-coded time_after_eq: signed difference against zero", @"ulong deadline; void arm() { deadline = jiffies + HZ; } bool f() => (long)(jiffies - deadline) >= 0;"),
        Case("elapsed time in milliseconds against a constant budget", @"ulong start; void begin() { start = jiffies; } bool too_slow() => jiffies_to_msecs(jiffies - start) > 500;"),
        Case("two durations compared", @"ulong f(uint ms) { ulong timeout = msecs_to_jiffies(ms); if (timeout > 10 * HZ) timeout = 10 * HZ; return timeout; }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<RawJiffiesComparisonAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<RawJiffiesComparisonAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_the_wrap_safe_form()
    {
        Verify<RawJiffiesComparisonAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    bool f() { ulong timeout = jiffies + HZ; return {|#0:jiffies > timeout|}; }
}", Expected.Diagnostic("KH5001", 0).WithMessage("'jiffies > timeout' compares jiffies values with '>', which is wrong when jiffies wraps; use time_after(jiffies, timeout)"));
    }

    [Fact]
    public void Fix_uses_the_time_macros()
    {
        const string before = @"
public sealed class Driver
{
    ulong deadline;
    void arm() { deadline = jiffies + HZ; }
    bool a() => jiffies > deadline;
    bool b() => jiffies < deadline;
    bool c(long margin) => jiffies + (ulong)margin >= deadline;
    bool d() => deadline <= jiffies;
}";
        const string afterOne = @"
public sealed class Driver
{
    ulong deadline;
    void arm() { deadline = jiffies + HZ; }
    bool a() => time_after(jiffies, deadline);
    bool b() => jiffies < deadline;
    bool c(long margin) => jiffies + (ulong)margin >= deadline;
    bool d() => deadline <= jiffies;
}";
        const string afterAll = @"
public sealed class Driver
{
    ulong deadline;
    void arm() { deadline = jiffies + HZ; }
    bool a() => time_after(jiffies, deadline);
    bool b() => time_before(jiffies, deadline);
    bool c(long margin) => time_after_eq(jiffies + (ulong)margin, deadline);
    bool d() => time_before_eq(deadline, jiffies);
}";
        Verify<RawJiffiesComparisonAnalyzer>.CodeFix<TimeComparisonCodeFixProvider>(before, afterOne, afterAll, TimeComparisonCodeFixProvider.EquivalenceKey);
    }
}
