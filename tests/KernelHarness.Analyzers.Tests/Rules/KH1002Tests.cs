using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH1002Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("a gfp_t local chosen by a switch expression, passed under a spinlock", @"
    void f(int prio) { gfp_t gfp = prio switch { 0 => GFP_ATOMIC, _ => GFP_KERNEL }; spin_lock(rx_lock); buf = kmalloc(64, [|gfp|]); spin_unlock(rx_lock); }"),
        Case("kzalloc GFP_KERNEL in a hard-IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { buf = kzalloc(64, [|GFP_KERNEL|]); return IRQ_HANDLED; }"),
        Case("kmalloc GFP_KERNEL under a spinlock", @"
    void f() { spin_lock(rx_lock); buf = kmalloc(64, [|GFP_KERNEL|]); spin_unlock(rx_lock); }"),
        Case("GFP_KERNEL passed through a helper under a spinlock", @"
    void f() { spin_lock(rx_lock); alloc_buf(64, [|GFP_KERNEL|]); spin_unlock(rx_lock); }
    void alloc_buf(ulong size, gfp_t gfp) { buf = kmalloc(size, gfp); }"),
        Case("GFP_KERNEL on one arm of a conditional under a spinlock", @"
    void f() { spin_lock(rx_lock); buf = kmalloc(64, busy ? GFP_ATOMIC : [|GFP_KERNEL|]); spin_unlock(rx_lock); }"),
        Case("GFP_KERNEL on one arm, passed through a helper", @"
    void f() { spin_lock(rx_lock); alloc_buf(64, busy ? [|GFP_KERNEL|] : GFP_ATOMIC); spin_unlock(rx_lock); }
    void alloc_buf(ulong size, gfp_t gfp) { buf = kmalloc(size, gfp); }"),
        Case("a gfp_t local set up once, passed under a spinlock", @"
    void f() { gfp_t gfp = GFP_KERNEL | __GFP_ZERO; spin_lock(rx_lock); buf = kmalloc(64, [|gfp|]); spin_unlock(rx_lock); }"),
        Case("a gfp_t local chosen by a condition, passed under a spinlock", @"
    void f(bool atomic) { var gfp = atomic ? GFP_ATOMIC : GFP_KERNEL; spin_lock(rx_lock); buf = kmalloc(64, [|gfp|]); spin_unlock(rx_lock); }"),
        Case("a gfp_t local captured by a tasklet's lambda", @"
    void init() { var gfp = GFP_KERNEL; tasklet_setup(tasklet, t => { buf = kmalloc(64, [|gfp|]); }); }"),
        Case("a gfp_t local passed to a helper that allocates, in a loop's atomic region", @"
    void f(int n) { var gfp = GFP_KERNEL; for (int i = 0; i < n; i++) { spin_lock(rx_lock); alloc_buf(64, [|gfp|]); spin_unlock(rx_lock); } }
    void alloc_buf(ulong size, gfp_t gfp) { buf = kmalloc(size, gfp); }"),
        Case("GFP_NOIO with preemption disabled", @"
    void f() { int cpu = get_cpu(); buf = kmalloc(64, [|GFP_NOIO|]); put_cpu(); }"),
        Case("kcalloc in a tasklet", @"
    void init() => tasklet_setup(tasklet, t => rx());
    void rx() { buf = kcalloc(4, 64, [|GFP_KERNEL|]); }"),
        Case("alloc_pages inside rcu_read_lock", @"
    void f() { rcu_read_lock(); var p = alloc_pages([|GFP_KERNEL|], 0); rcu_read_unlock(); }"),
        Case("kmem_cache_alloc under spin_lock_bh", @"
    private kmem_cache? cache;
    void f() { spin_lock_bh(rx_lock); buf = kmem_cache_alloc(cache!, [|GFP_KERNEL|]); spin_unlock_bh(rx_lock); }"),
        Case("GFP_KERNEL | __GFP_ZERO under local_irq_save", @"
    void f() { local_irq_save(out var flags); buf = kmalloc(32, [|GFP_KERNEL | __GFP_ZERO|]); local_irq_restore(flags); }"),
        Case("GFP_USER under a rwlock", @"
    void f() { write_lock(rw); buf = kmalloc(32, [|GFP_USER|]); write_unlock(rw); }"),
        Case("__get_free_pages in a timer callback", @"
    void init() => timer_setup(timer, tick, 0);
    void tick(timer_list t) { ulong a = __get_free_pages([|GFP_KERNEL|], 1); free_pages(a, 1); }"),
        Case("krealloc in a hard-IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { buf = krealloc(buf, 256, [|GFP_KERNEL|]); return IRQ_HANDLED; }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("both arms of a conditional that never block, under a spinlock", @"
    void f() { spin_lock(rx_lock); buf = kmalloc(64, busy ? GFP_ATOMIC : GFP_NOWAIT); spin_unlock(rx_lock); }"),
        Case("a conditional GFP_KERNEL outside any atomic context", @"
    void f() { buf = kmalloc(64, busy ? GFP_ATOMIC : GFP_KERNEL); }"),
        Case("a gfp_t local set again before the atomic region", @"
    void f() { var gfp = GFP_KERNEL; gfp = GFP_ATOMIC; spin_lock(rx_lock); buf = kmalloc(64, gfp); spin_unlock(rx_lock); }"),
        Case("a gfp_t local holding GFP_ATOMIC under a spinlock", @"
    void f() { gfp_t gfp = GFP_ATOMIC | __GFP_ZERO; spin_lock(rx_lock); buf = kmalloc(64, gfp); spin_unlock(rx_lock); }"),
        Case("a gfp_t local holding GFP_KERNEL used after the unlock", @"
    void f() { var gfp = GFP_KERNEL; spin_lock(rx_lock); count++; spin_unlock(rx_lock); buf = kmalloc(64, gfp); }"),
        Case("GFP_ATOMIC under a spinlock", @"
    void f() { spin_lock(rx_lock); buf = kmalloc(64, GFP_ATOMIC); spin_unlock(rx_lock); }"),
        Case("GFP_NOWAIT in an IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { buf = kmalloc(64, GFP_NOWAIT); return IRQ_HANDLED; }"),
        Case("allocation after the unlock", @"
    void f() { spin_lock(rx_lock); count++; spin_unlock(rx_lock); buf = kmalloc(64, GFP_KERNEL); }"),
        Case("gfp_t parameter passed through (the caller is checked)", @"
    public void alloc_buf(ulong size, gfp_t gfp) { spin_lock(rx_lock); count++; spin_unlock(rx_lock); buf = kmalloc(size, gfp); }"),
        Case("helper given GFP_ATOMIC under a spinlock", @"
    void f() { spin_lock(rx_lock); alloc_buf(64, GFP_ATOMIC); spin_unlock(rx_lock); }
    void alloc_buf(ulong size, gfp_t gfp) { buf = kmalloc(size, gfp); }"),
        Case("GFP_KERNEL in a work item", @"
    void init() => INIT_WORK(work, w => refill());
    void refill() { buf = kzalloc(4096, GFP_KERNEL); }"),
        Case("GFP_KERNEL in a thread_fn", @"
    int init() => request_threaded_irq(irq, null, slow, IRQF_ONESHOT, ""dev"", this);
    irqreturn_t slow(int n, object? d) { buf = kmalloc(64, GFP_KERNEL); return IRQ_HANDLED; }"),
        Case("GFP_KERNEL under a mutex", @"
    void f() { mutex_lock(mtx); buf = kmalloc(64, GFP_KERNEL); mutex_unlock(mtx); }"),
        Case("GFP_ATOMIC | __GFP_ZERO in an IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { buf = kmalloc(64, GFP_ATOMIC | __GFP_ZERO); return IRQ_HANDLED; }"),
        Case("GFP_KERNEL on the trylock failure path", @"
    void f()
    {
        if (spin_trylock(rx_lock)) { count++; spin_unlock(rx_lock); return; }
        buf = kmalloc(64, GFP_KERNEL);
    }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<BlockingGfpInAtomicContextAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<BlockingGfpInAtomicContextAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_allocator_flags_and_context()
    {
        Verify<BlockingGfpInAtomicContextAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    spinlock_t l = new();
    kptr p;
    void f() { spin_lock(l); p = kmalloc(8, {|#0:GFP_KERNEL|}); spin_unlock(l); }
}", Expected.Diagnostic("KH1002", 0).WithMessage("kmalloc() with GFP_KERNEL may sleep, but spinlock 'l' is held (taken at Driver.cs:6)"));
    }

    private const string FixBefore = @"
public sealed class Driver
{
    spinlock_t l = new();
    kptr p, q;
    void f()
    {
        spin_lock(l);
        p = kmalloc(8, GFP_KERNEL | __GFP_ZERO);
        q = kzalloc(8, GFP_KERNEL);
        spin_unlock(l);
    }
}";

    [Fact]
    public void Fix_uses_GFP_ATOMIC_and_keeps_modifiers()
    {
        Verify<BlockingGfpInAtomicContextAnalyzer>.CodeFix<GfpCodeFixProvider>(FixBefore,
            FixBefore.Replace("GFP_KERNEL | __GFP_ZERO", "GFP_ATOMIC | __GFP_ZERO"),
            FixBefore.Replace("GFP_KERNEL", "GFP_ATOMIC"),
            "KH1002:GFP_ATOMIC");
    }

    private const string ConditionalBefore = @"
public sealed class Driver
{
    spinlock_t l = new();
    kptr p;
    bool busy;
    void f()
    {
        spin_lock(l);
        p = kmalloc(8, busy ? GFP_ATOMIC : GFP_KERNEL);
        spin_unlock(l);
    }
}";

    [Fact]
    public void Fix_replaces_the_blocking_arm_of_a_conditional()
    {
        var fixedSource = ConditionalBefore.Replace("busy ? GFP_ATOMIC : GFP_KERNEL", "busy ? GFP_ATOMIC : GFP_ATOMIC");
        Verify<BlockingGfpInAtomicContextAnalyzer>.CodeFix<GfpCodeFixProvider>(ConditionalBefore, fixedSource, fixedSource, "KH1002:GFP_ATOMIC");
    }

    private const string LocalBefore = @"
public sealed class Driver
{
    spinlock_t l = new();
    kptr p, q;
    void f()
    {
        gfp_t gfp = GFP_KERNEL | __GFP_ZERO;
        q = kmalloc(8, gfp);
        spin_lock(l);
        p = kmalloc(8, gfp);
        spin_unlock(l);
    }
}";

    [Fact]
    public void Fix_writes_a_locals_value_at_the_call_with_its_base_flags_replaced()
    {
        // Only the call under the lock changes: the local, and its use outside the lock, stay as they are.
        var fixedSource = LocalBefore.Replace("p = kmalloc(8, gfp);", "p = kmalloc(8, GFP_ATOMIC | __GFP_ZERO);");
        Verify<BlockingGfpInAtomicContextAnalyzer>.CodeFix<GfpCodeFixProvider>(LocalBefore, fixedSource, fixedSource, "KH1002:GFP_ATOMIC");
    }

    [Fact]
    public void Message_names_the_value_a_gfp_local_holds()
    {
        Verify<BlockingGfpInAtomicContextAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    spinlock_t l = new();
    kptr p;
    void f() { var gfp = GFP_KERNEL; spin_lock(l); p = kmalloc(8, {|#0:gfp|}); spin_unlock(l); }
}", Expected.Diagnostic("KH1002", 0).WithMessage("kmalloc() with gfp (= GFP_KERNEL) may sleep, but spinlock 'l' is held (taken at Driver.cs:6)"));
    }

    [Fact]
    public void Fix_offers_GFP_NOWAIT()
    {
        Verify<BlockingGfpInAtomicContextAnalyzer>.CodeFix<GfpCodeFixProvider>(FixBefore,
            FixBefore.Replace("GFP_KERNEL | __GFP_ZERO", "GFP_NOWAIT | __GFP_ZERO"),
            FixBefore.Replace("GFP_KERNEL", "GFP_NOWAIT"),
            "KH1002:GFP_NOWAIT");
    }
}
