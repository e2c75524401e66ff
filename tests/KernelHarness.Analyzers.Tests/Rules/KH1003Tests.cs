using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH1003Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("work item allocates with GFP_ATOMIC", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { buf = kmalloc(64, [|GFP_ATOMIC|]); }"),
        Case("work item allocates with a gfp_t local holding GFP_ATOMIC", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { gfp_t gfp = GFP_ATOMIC | __GFP_ZERO; buf = kmalloc(64, [|gfp|]); }"),
        Case("thread_fn allocates with GFP_ATOMIC", @"
    public int init() => request_threaded_irq(irq, null, slow, IRQF_ONESHOT, ""dev"", this);
    irqreturn_t slow(int n, object? d) { buf = kzalloc(64, [|GFP_ATOMIC|]); return IRQ_HANDLED; }"),
        Case("[ProcessContext] method", @"
    [ProcessContext]
    public void setup() { buf = kmalloc(64, [|GFP_ATOMIC|]); }"),
        Case("kernel thread", @"
    public void start() => kthread_run(thread_fn, this, ""kdev"");
    int thread_fn(object? data) { buf = kmalloc(32, [|GFP_ATOMIC|]); return 0; }"),
        Case("helper reached only through a work item chain", @"
    public void init() => INIT_WORK(work, w => step1());
    void step1() => step2();
    void step2() { buf = kcalloc(2, 64, [|GFP_ATOMIC|]); }"),
        Case("helper called under a mutex from a work item", @"
    public void init() => INIT_WORK(work, w => run());
    void run() { mutex_lock(mtx); grow(); mutex_unlock(mtx); }
    void grow() { buf = krealloc(buf, 128, [|GFP_ATOMIC|]); }"),
        Case("GFP_ATOMIC | __GFP_ZERO in a work item", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { buf = kmalloc(64, [|GFP_ATOMIC | __GFP_ZERO|]); }"),
        Case("alloc_pages in a kernel thread", @"
    public void start() => kthread_run(thread_fn, this, ""kdev"");
    int thread_fn(object? data) { var pg = alloc_pages([|GFP_ATOMIC|], 0); return 0; }"),
        Case("method group registered as work", @"
    public void init() => INIT_WORK(work, do_work);
    void do_work(work_struct w) { buf = kmalloc(16, [|GFP_ATOMIC|]); }"),
        Case("allocation after the unlock in a work item", @"
    public void init() => INIT_WORK(work, w => run());
    void run() { spin_lock(rx_lock); count++; spin_unlock(rx_lock); buf = kmalloc(8, [|GFP_ATOMIC|]); }"),
        Case("a property getter read only from a work item allocates with GFP_ATOMIC", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { buf = Fresh; }
    kptr Fresh => kmalloc(64, [|GFP_ATOMIC|]);"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("work item with a gfp_t local set again before the allocation", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { var gfp = GFP_ATOMIC; gfp = GFP_KERNEL; buf = kmalloc(64, gfp); }"),
        Case("public method: unknown callers", @"
    public void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("private helper called from an IRQ handler", @"
    public int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { refill(); return IRQ_HANDLED; }
    void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("helper called under a spinlock from a work item", @"
    public void init() => INIT_WORK(work, w => run());
    void run() { spin_lock(rx_lock); refill(); spin_unlock(rx_lock); }
    void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("tasklet (softirq)", @"
    public void init() => tasklet_setup(tasklet, t => rx());
    void rx() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("helper reached from a work item and from a timer", @"
    public void init() { INIT_WORK(work, w => refill()); timer_setup(timer, t => refill(), 0); }
    void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("GFP_ATOMIC under a spinlock in a work item", @"
    public void init() => INIT_WORK(work, w => run());
    void run() { spin_lock(rx_lock); buf = kmalloc(64, GFP_ATOMIC); spin_unlock(rx_lock); }"),
        Case("private method never called", @"
    void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("method group escaping to an unknown caller", @"
    public System.Action Refill => refill;
    void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("GFP_KERNEL in a work item", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { buf = kmalloc(64, GFP_KERNEL); }"),
        Case("[AtomicContext] method", @"
    [AtomicContext]
    public void refill() { buf = kmalloc(64, GFP_ATOMIC); }"),
        Case("a property getter read under a spinlock allocates with GFP_ATOMIC", @"
    public void init() => INIT_WORK(work, w => refill());
    void refill() { spin_lock(rx_lock); buf = Fresh; spin_unlock(rx_lock); }
    kptr Fresh => kmalloc(64, GFP_ATOMIC);"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    private const string FixBefore = @"
public sealed class Driver
{
    work_struct work = new();
    kptr p, q;
    public void init() => INIT_WORK(work, w => refill());
    void refill()
    {
        p = kmalloc(8, GFP_ATOMIC);
        q = kmalloc(8, GFP_ATOMIC | __GFP_ZERO);
    }
}";

    [Fact]
    public void Fix_uses_GFP_KERNEL()
    {
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.CodeFix<GfpCodeFixProvider>(FixBefore,
            FixBefore.Replace("kmalloc(8, GFP_ATOMIC)", "kmalloc(8, GFP_KERNEL)"),
            FixBefore.Replace("GFP_ATOMIC", "GFP_KERNEL"),
            "KH1003:GFP_KERNEL");
    }

    [Fact]
    public void Fix_writes_a_locals_value_at_the_call()
    {
        const string before = @"
public sealed class Driver
{
    work_struct work = new();
    kptr p;
    public void init() => INIT_WORK(work, w => refill());
    void refill()
    {
        var gfp = GFP_ATOMIC | __GFP_ZERO;
        p = kmalloc(8, gfp);
    }
}";
        var fixedSource = before.Replace("kmalloc(8, gfp)", "kmalloc(8, GFP_KERNEL | __GFP_ZERO)");
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.CodeFix<GfpCodeFixProvider>(before, fixedSource, fixedSource, "KH1003:GFP_KERNEL");
    }

    [Fact]
    public void Fix_offers_GFP_NOIO_and_GFP_NOFS()
    {
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.CodeFix<GfpCodeFixProvider>(FixBefore,
            FixBefore.Replace("kmalloc(8, GFP_ATOMIC)", "kmalloc(8, GFP_NOIO)"),
            FixBefore.Replace("GFP_ATOMIC", "GFP_NOIO"),
            "KH1003:GFP_NOIO");
        Verify<AtomicGfpWhereSleepingAllowedAnalyzer>.CodeFix<GfpCodeFixProvider>(FixBefore,
            FixBefore.Replace("kmalloc(8, GFP_ATOMIC)", "kmalloc(8, GFP_NOFS)"),
            FixBefore.Replace("GFP_ATOMIC", "GFP_NOFS"),
            "KH1003:GFP_NOFS");
    }
}
