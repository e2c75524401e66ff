using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH2001Tests
{
    private const string PerCpu = @"
    private static readonly percpu<long> hits = DEFINE_PER_CPU<long>();";

    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("early return -ENOMEM skips put_cpu", @"
    int f()
    {
        int cpu = [|get_cpu()|];
        buf = kmalloc(64, GFP_ATOMIC);
        if (buf == NULL)
            return -ENOMEM;
        put_cpu();
        return 0;
    }"),
        Case("get_cpu_var as an assignment target, never put", PerCpu + @"
    public void f() { [|get_cpu_var(hits)|] = 0; count++; }"),
        Case("put_cpu with nothing to undo on one path", @"
    void f(bool fast)
    {
        if (fast) get_cpu();
        count++;
        [|put_cpu()|];
    }"),
        Case("get_cpu_var not undone on an early return", PerCpu + @"
    void f()
    {
        ref long h = ref [|get_cpu_var(hits)|];
        if (h > 100) return;
        h++;
        put_cpu_var(hits);
    }"),
        Case("preempt_disable not undone on the break path", @"
    void f()
    {
        for (int i = 0; i < 10; i++)
        {
            [|preempt_disable()|];
            if (i == count) break;
            preempt_enable();
        }
    }"),
        Case("put_cpu twice", @"
    void f()
    {
        get_cpu();
        put_cpu();
        [|put_cpu()|];
    }"),
        Case("IRQ handler leaves preemption disabled", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { [|preempt_disable()|]; count++; return IRQ_HANDLED; }"),
        Case("get_cpu in one branch, nothing undone", @"
    void f(bool fast)
    {
        if (fast) { int cpu = [|get_cpu()|]; count += cpu; }
        count++;
    }"),
        Case("work lambda leaves preemption disabled", @"
    void init() => INIT_WORK(work, w => { [|preempt_disable()|]; count++; });"),
        Case("get_cpu never undone", @"
    int f() { int cpu = [|get_cpu()|]; return cpu; }"),
        Case("early return from a switch case", @"
    int f(int cmd)
    {
        [|preempt_disable()|];
        switch (cmd)
        {
            case 1: count++; break;
            case 2: return -EINVAL;
        }
        preempt_enable();
        return 0;
    }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("balanced get_cpu / put_cpu", @"
    void f() { int cpu = get_cpu(); count += cpu; put_cpu(); }"),
        Case("goto-style shared exit", @"
    int f()
    {
        int err = 0;
        get_cpu();
        buf = kmalloc(64, GFP_ATOMIC);
        if (buf == NULL) { err = -ENOMEM; goto out_put; }
        count++;
    out_put:
        put_cpu();
        return err;
    }"),
        Case("balanced inside a loop", @"
    void f() { for (int i = 0; i < 4; i++) { preempt_disable(); count++; preempt_enable(); } }"),
        Case("try/finally", @"
    void f() { preempt_disable(); try { count++; } finally { preempt_enable(); } }"),
        Case("helper whose summary releases", @"
    void f() { get_cpu(); count++; done(); }
    void done() { put_cpu(); }"),
        Case("nested get_cpu and preempt_disable", @"
    void f() { get_cpu(); preempt_disable(); count++; preempt_enable(); put_cpu(); }"),
        Case("correlated conditional", @"
    void f(bool pin) { if (pin) get_cpu(); count++; if (pin) put_cpu(); }"),
        Case("annotated [EntersContext] helper", @"
    [KernelHarness.Annotations.EntersContext(LockKind.Preempt)]
    void pin() { preempt_disable(); }
    void f() { pin(); count++; preempt_enable(); }"),
        Case("get_cpu_var / put_cpu_var", @"
    private static readonly percpu<long> hits = DEFINE_PER_CPU<long>();
    void f() { get_cpu_var(hits)++; put_cpu_var(hits); }"),
        Case("early return before get_cpu", @"
    int f() { if (busy) return -EBUSY; int cpu = get_cpu(); count += cpu; put_cpu(); return 0; }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<PreemptionBalanceAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<PreemptionBalanceAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_the_early_return()
    {
        Verify<PreemptionBalanceAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    kptr p;
    int f()
    {
        int cpu = {|#0:get_cpu()|};
        p = kmalloc(64, GFP_ATOMIC);
        if (p == NULL)
            return -ENOMEM;
        put_cpu();
        return 0;
    }
}", Expected.Diagnostic("KH2001", 0).WithMessage("get_cpu() at line 7 is not undone by put_cpu() on the path through the early return at line 10"));
    }
}
