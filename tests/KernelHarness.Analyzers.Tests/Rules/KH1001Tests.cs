using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH1001Tests
{
    /// <summary>A helper of the student's own that throws: a try around a call of it may enter its catch.</summary>
    internal const string Throwing = @"
    int check(int n) => n < 0 ? throw new System.InvalidOperationException() : n;";

    private const string Isr = @"
    irqreturn_t isr(int irq_no, object? dev_id) { return IRQ_HANDLED; }";

    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("msleep in a catch block while the lock taken in the try is held", @"
    void f()
    {
        spin_lock(rx_lock);
        try { count = check(count); }
        catch (System.InvalidOperationException) { [|msleep(1)|]; }
        spin_unlock(rx_lock);
    }" + Throwing),
        Case("msleep in a filtered catch block under the lock", @"
    void f()
    {
        spin_lock(rx_lock);
        try { count = check(count); }
        catch (System.InvalidOperationException) when (count > 0) { [|msleep(1)|]; }
        spin_unlock(rx_lock);
    }" + Throwing),
        Case("msleep in an outer catch when the inner one catches another type", @"
    void f()
    {
        try
        {
            spin_lock(rx_lock);
            try { count = check(count); }
            catch (System.ArgumentException) { count = 0; }
            spin_unlock(rx_lock);
        }
        catch (System.Exception) { [|msleep(1)|]; }
    }" + Throwing),
        Case("msleep in the last else of an if / else-if chain over values", @"
    void f()
    {
        spin_lock(rx_lock);
        if (count == 0) count++;
        else if (count == 1) count--;
        else [|msleep(1)|];
        spin_unlock(rx_lock);
    }"),
        Case("msleep where a value differs from a nonzero constant", @"
    void f()
    {
        spin_lock(rx_lock);
        if (count != 5) [|msleep(1)|];
        spin_unlock(rx_lock);
    }"),
        Case("mutex_lock under spin_lock_irqsave", @"
    void f()
    {
        spin_lock_irqsave(dev.hw_lock, out var flags);
        [|mutex_lock(mtx)|];
        mutex_unlock(mtx);
        spin_unlock_irqrestore(dev.hw_lock, flags);
    }"),
        Case("msleep between get_cpu and put_cpu", @"
    void f()
    {
        int cpu = get_cpu();
        [|msleep(10)|];
        put_cpu();
    }"),
        Case("request_irq under a spinlock", @"
    int f()
    {
        spin_lock(rx_lock);
        int err = [|request_irq(irq, isr, IRQF_SHARED, ""dev"", this)|];
        spin_unlock(rx_lock);
        return err;
    }" + Isr),
        Case("msleep in a hard-IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int irq_no, object? dev_id)
    {
        [|msleep(1)|];
        return IRQ_HANDLED;
    }"),
        Case("handler calls a helper that allocates with GFP_KERNEL", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int irq_no, object? dev_id)
    {
        [|refill()|];
        return IRQ_HANDLED;
    }
    void refill() { buf = kmalloc(128, GFP_KERNEL); }"),
        Case("schedule in a tasklet reached through a forwarding lambda", @"
    void init() => tasklet_setup(tasklet, t => poll());
    void poll() { [|schedule()|]; }"),
        Case("synchronize_rcu inside an RCU read-side section", @"
    void f()
    {
        rcu_read_lock();
        [|synchronize_rcu()|];
        rcu_read_unlock();
    }"),
        Case("cond_resched with interrupts disabled", @"
    void f()
    {
        local_irq_disable();
        [|cond_resched()|];
        local_irq_enable();
    }"),
        Case("sleep on the path where the lock is conditionally held", @"
    void f(bool locked)
    {
        if (locked) spin_lock(rx_lock);
        [|msleep(1)|];
        if (locked) spin_unlock(rx_lock);
    }"),
        Case("two levels of calls down to mutex_lock", @"
    void f()
    {
        spin_lock(dev.hw_lock);
        [|reset_hw()|];
        spin_unlock(dev.hw_lock);
    }
    void reset_hw() { wait_ready(); }
    void wait_ready() { mutex_lock(mtx); mutex_unlock(mtx); }"),
        Case("[AtomicContext] method calls ssleep", @"
    [AtomicContext]
    void f() { [|ssleep(1)|]; }"),
        Case("timer callback registered as a method group", @"
    void init() => timer_setup(timer, on_timer, 0);
    void on_timer(timer_list t) { [|usleep_range(10, 20)|]; }"),
        Case("a property getter that takes a mutex, read under a spinlock", @"
    int Mode { get { mutex_lock(mtx); int m = count; mutex_unlock(mtx); return m; } }
    void f() { spin_lock(rx_lock); var m = [|Mode|]; spin_unlock(rx_lock); }"),
        Case("an expression-bodied property whose helper sleeps, read in a hard-IRQ handler", @"
    int Slow => slow_read();
    int slow_read() { msleep(1); return 1; }
    irqreturn_t isr(int i, object? d) { count = [|Slow|]; return IRQ_HANDLED; }
    int f() => request_irq(irq, isr, 0, ""dev"", this);"),
        Case("a property setter that takes a mutex, assigned under a spinlock", @"
    int Val { get => count; set { mutex_lock(mtx); count = value; mutex_unlock(mtx); } }
    void f() { spin_lock(rx_lock); [|Val|] = 3; spin_unlock(rx_lock); }"),
        Case("an indexer that sleeps, read in a tasklet", @"
    int this[int i] { get { msleep(1); return i; } }
    void init() => tasklet_setup(tasklet, t => { count = [|this[2]|]; });"),
        Case("a helper reading a sleeping getter, called under a spinlock", @"
    int Mode { get { mutex_lock(mtx); int m = count; mutex_unlock(mtx); return m; } }
    int read_mode() => Mode;
    void f() { spin_lock(rx_lock); count = [|read_mode()|]; spin_unlock(rx_lock); }"),
        Case("handler lambda stored by a field initializer", @"
    private readonly irq_handler_t quick = (n, d) => { [|msleep(1)|]; return IRQ_HANDLED; };
    int probe() => request_irq(irq, quick, 0, ""dev"", this);"),
        Case("handler method group stored by a field initializer", @"
    private static irqreturn_t slow_isr(int n, object? d) { [|msleep(1)|]; return IRQ_HANDLED; }
    private readonly irq_handler_t stored = slow_isr;
    int probe() => request_irq(irq, stored, 0, ""dev"", this);"),
        Case("tasklet callback stored by a property initializer", @"
    private System.Action<tasklet_struct> Poll { get; } = t => [|msleep(1)|];
    void init() => tasklet_setup(tasklet, Poll);"),
        Case("handler stored in a field before registration", @"
    private irq_handler_t? handler;
    int init() { handler = slow_isr; return request_irq(irq, handler, 0, ""dev"", this); }
    irqreturn_t slow_isr(int irq_no, object? dev_id) { [|wait_for_completion(done)|]; return IRQ_HANDLED; }
    private readonly completion done = new();"),
        Case("down under spin_lock_bh", @"
    void f()
    {
        spin_lock_bh(rx_lock);
        [|down(sem)|];
        up(sem);
        spin_unlock_bh(rx_lock);
    }"),
        Case("lambda handler calls msleep", @"
    int init() => request_irq(irq, (n, d) => { [|msleep(5)|]; return IRQ_HANDLED; }, 0, ""dev"", this);"),
        Case("an interface's method registered through an interface reference: its implementation runs in hard-IRQ context", @"
    interface IHandler { irqreturn_t on_irq(int n, object? d); }
    sealed class Impl : IHandler { public irqreturn_t on_irq(int n, object? d) { [|msleep(1)|]; return IRQ_HANDLED; } }
    int f(IHandler h) => request_irq(irq, h.on_irq, 0, ""d"", this);"),
        Case("a base class registers its abstract handler: the override runs in hard-IRQ context", @"
    abstract class Card { protected abstract irqreturn_t isr(int n, object? d); public int probe(uint line) => request_irq(line, isr, 0, ""c"", this); }
    sealed class Sound : Card { protected override irqreturn_t isr(int n, object? d) { [|msleep(1)|]; return IRQ_HANDLED; } }"),
        Case("an explicit interface implementation of a registered timer callback", @"
    interface ITick { void tick(timer_list t); }
    sealed class Beat : ITick { void ITick.tick(timer_list t) { [|mutex_lock(new mutex())|]; } }
    void f(ITick t) => timer_setup(timer, t.tick, 0);"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("an auto-property read and set under a spinlock", @"
    int Auto { get; set; }
    void f() { spin_lock(rx_lock); Auto = 3; count = Auto; spin_unlock(rx_lock); }"),
        Case("a getter that only computes, read under a spinlock", @"
    int Cheap => count + 1;
    void f() { spin_lock(rx_lock); count = Cheap; spin_unlock(rx_lock); }"),
        Case("a sleeping getter read after the unlock", @"
    int Mode { get { mutex_lock(mtx); int m = count; mutex_unlock(mtx); return m; } }
    void f() { spin_lock(rx_lock); count++; spin_unlock(rx_lock); var m = Mode; }"),
        Case("msleep in a catch block entered only after a finally released the lock", @"
    void f()
    {
        try
        {
            spin_lock(rx_lock);
            try { count = check(count); }
            finally { spin_unlock(rx_lock); }
        }
        catch (System.InvalidOperationException) { msleep(1); }
    }" + Throwing),
        Case("msleep in an outer catch no exception reaches past a catch-all", @"
    void f()
    {
        try
        {
            spin_lock(rx_lock);
            try { count = check(count); }
            catch (System.Exception) { count = 0; }
            spin_unlock(rx_lock);
        }
        catch (System.Exception) { msleep(1); }
    }" + Throwing),
        Case("msleep in a catch block of a try entered before the lock", @"
    void f()
    {
        try { count = check(count); }
        catch (System.InvalidOperationException) { msleep(1); }
        spin_lock(rx_lock);
        count++;
        spin_unlock(rx_lock);
    }" + Throwing),
        Case("sleep after the lock is dropped on every path", @"
    void f()
    {
        spin_lock(rx_lock);
        if (busy) { spin_unlock(rx_lock); msleep(1); return; }
        count++;
        spin_unlock(rx_lock);
        msleep(1);
    }"),
        Case("mdelay busy wait in an IRQ handler", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int irq_no, object? dev_id) { mdelay(1); udelay(5); return IRQ_HANDLED; }"),
        Case("helper sleeps only on a branch the constant argument rules out", @"
    void f()
    {
        spin_lock(rx_lock);
        wait_hw(false);
        spin_unlock(rx_lock);
    }
    void wait_hw(bool can_sleep)
    {
        if (can_sleep) msleep(10);
        else mdelay(10);
    }"),
        Case("work item may sleep", @"
    void init() => INIT_WORK(work, w => reset());
    void reset() { mutex_lock(mtx); msleep(20); mutex_unlock(mtx); }"),
        Case("thread_fn of a threaded irq may sleep", @"
    int init() => request_threaded_irq(irq, quick, slow, IRQF_ONESHOT, ""dev"", this);
    irqreturn_t quick(int n, object? d) => IRQ_WAKE_THREAD;
    irqreturn_t slow(int n, object? d) { msleep(1); return IRQ_HANDLED; }"),
        Case("sleeping under a mutex", @"
    void f() { mutex_lock(mtx); msleep(1); mutex_unlock(mtx); }"),
        Case("trylock failure path sleeps", @"
    void f()
    {
        if (!spin_trylock(rx_lock)) { msleep(1); return; }
        count++;
        spin_unlock(rx_lock);
    }"),
        Case("vfree in hard-IRQ context is deferred", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int irq_no, object? dev_id) { vfree(buf); return IRQ_HANDLED; }"),
        Case("kernel thread may sleep", @"
    void start() => kthread_run(thread_fn, this, ""kdev"");
    int thread_fn(object? data) { while (!kthread_should_stop()) msleep(100); return 0; }"),
        Case("branches correlated by the same condition", @"
    void f(bool fast)
    {
        if (fast) spin_lock(rx_lock);
        if (!fast) msleep(1);
        if (fast) spin_unlock(rx_lock);
    }"),
        Case("sleep after try/finally released the lock", @"
    void f()
    {
        spin_lock(rx_lock);
        try { count++; }
        finally { spin_unlock(rx_lock); }
        msleep(1);
    }"),
        Case("lock and unlock in a loop, sleep between iterations", @"
    void f()
    {
        for (int i = 0; i < 4; i++)
        {
            spin_lock(rx_lock);
            count++;
            spin_unlock(rx_lock);
            msleep(1);
        }
    }"),
        Case("an interface's method registered as a work item: its implementation may sleep", @"
    interface IJob { void run(work_struct w); }
    sealed class Flush : IJob { public void run(work_struct w) { msleep(1); } }
    void f(IJob j) => INIT_WORK(work, j.run);"),
        Case("a method named like a registered interface method, in a type that does not implement it", @"
    interface IHandler { irqreturn_t on_irq(int n, object? d); }
    sealed class Other { public irqreturn_t on_irq(int n, object? d) { msleep(1); return IRQ_HANDLED; } }
    int f(IHandler h) => request_irq(irq, h.on_irq, 0, ""d"", this);"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SleepInAtomicContextAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<SleepInAtomicContextAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_the_lock_where_it_was_taken_and_the_call_chain()
    {
        Verify<SleepInAtomicContextAnalyzer>.Diagnostics(@"
public sealed class Dev { public spinlock_t hw_lock = new(); public mutex cfg = new(); }
public sealed class Driver
{
    void f(Dev dev)
    {
        spin_lock(dev.hw_lock);
        {|#0:reset_hw(dev)|};
        spin_unlock(dev.hw_lock);
    }
    void reset_hw(Dev dev) => wait_ready(dev);
    void wait_ready(Dev dev) { mutex_lock(dev.cfg); mutex_unlock(dev.cfg); }
}", Expected.Diagnostic("KH1001", 0).WithMessage(
            "mutex_lock() may sleep, but spinlock 'dev.hw_lock' is held (taken at Driver.cs:7) — called via reset_hw() -> wait_ready() -> mutex_lock()"));
    }

    [Fact]
    public void Message_names_the_registration_of_a_hard_irq_handler()
    {
        Verify<SleepInAtomicContextAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    int probe(uint irq) => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int irq, object? dev_id) { {|#0:msleep(1)|}; return IRQ_HANDLED; }
}", Expected.Diagnostic("KH1001", 0).WithMessage(
            "msleep() may sleep, but my_isr() runs in hard-IRQ context (the handler passed to request_irq() at Driver.cs:4)"));
    }

    [Fact]
    public void Message_names_the_call_as_written_not_the_linux_function_behind_it()
    {
        // del_timer_sync is timer_delete_sync in today's kernel/time/timer.c: the student wrote del_timer_sync.
        Verify<SleepInAtomicContextAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    spinlock_t l = new();
    timer_list t = new();
    void f() { spin_lock(l); {|#0:del_timer_sync(t)|}; spin_unlock(l); }
}", Expected.Diagnostic("KH1001", 0).WithMessage(
            "del_timer_sync() may sleep, but spinlock 'l' is held (taken at Driver.cs:6)"));
    }

    [Fact]
    public void Code_without_the_kernel_api_registers_nothing()
    {
        var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("Plain",
            new[] { Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText("class C { void M() { System.Threading.Thread.Sleep(1); } }") },
            new[] { Microsoft.CodeAnalysis.MetadataReference.CreateFromFile(typeof(object).Assembly.Location) });
        Assert.Empty(TestProject.Analyze(compilation, TestProject.AllAnalyzers));
    }

    internal static object[] Case(string name, string markup) => new object[] { name, markup };
}
