using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH2003Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("lock taken in a try, not released on the catch's return", @"
    int f()
    {
        try
        {
            [|spin_lock(rx_lock)|];
            count = check(count);
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.InvalidOperationException) { return -EINVAL; }
    }" + Throwing),
        Case("lock held on the catch an array index may reach", @"
    int f(int[] table, int i)
    {
        try
        {
            [|spin_lock(rx_lock)|];
            count = table[i];
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.IndexOutOfRangeException) { return -EINVAL; }
    }"),
        Case("lock held on the catch a division may reach", @"
    int f(int n)
    {
        try
        {
            [|spin_lock(rx_lock)|];
            count = 4096 / n;
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.DivideByZeroException) { return -EINVAL; }
    }"),
        Case("lock held on the catch a list's indexer may reach", @"
    int f(System.Collections.Generic.List<int> sizes, int i)
    {
        try
        {
            [|spin_lock(rx_lock)|];
            count = sizes[i];
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.ArgumentOutOfRangeException) { return -EINVAL; }
    }"),
        Case("one device's lock taken and another's released, with no caller to pair them", @"
    public void ack(Device a, Device b) { [|spin_lock(a.hw_lock)|]; a.count = 0; [|spin_unlock(b.hw_lock)|]; }"),
        Case("an unannotated function that returns holding the lock, called by nothing", @"
    public void lock_rx() { [|spin_lock(rx_lock)|]; }"),
        Case("spin_lock not released on an early return", @"
    int f()
    {
        [|spin_lock(rx_lock)|];
        if (count == 0) return -EINVAL;
        count--;
        spin_unlock(rx_lock);
        return 0;
    }"),
        Case("mutex not released on the error path", @"
    int f()
    {
        [|mutex_lock(mtx)|];
        buf = kmalloc(64, GFP_KERNEL);
        if (buf == NULL) return -ENOMEM;
        mutex_unlock(mtx);
        return 0;
    }"),
        Case("double acquire", @"
    void f() { spin_lock(rx_lock); [|spin_lock(rx_lock)|]; spin_unlock(rx_lock); }"),
        Case("double acquire, with an unlock for each: the deadlock only", @"
    void f() { spin_lock(rx_lock); [|spin_lock(rx_lock)|]; spin_unlock(rx_lock); spin_unlock(rx_lock); }"),
        Case("double acquire, then the lock taken afresh and released twice", @"
    void f() { spin_lock(rx_lock); [|spin_lock(rx_lock)|]; spin_unlock(rx_lock); spin_lock(rx_lock); spin_unlock(rx_lock); [|spin_unlock(rx_lock)|]; }"),
        Case("double unlock", @"
    void f() { spin_lock(rx_lock); spin_unlock(rx_lock); [|spin_unlock(rx_lock)|]; }"),
        Case("rcu_read_lock not undone on a return", @"
    bool f() { [|rcu_read_lock()|]; if (busy) return false; rcu_read_unlock(); return true; }"),
        Case("kmap_atomic not undone", @"
    void f(page pg) { var a = [|kmap_atomic(pg)|]; if (busy) return; kunmap_atomic(a); }"),
        Case("read_lock on an early return", @"
    int f() { [|read_lock(rw)|]; if (busy) return -EBUSY; count++; read_unlock(rw); return 0; }"),
        Case("down_read again while holding it for reading", @"
    void f(rw_semaphore cfg) { down_read(cfg); [|down_read(cfg)|]; up_read(cfg); up_read(cfg); }"),
        Case("nested mmap_read_lock", @"
    void f(mm_struct mm) { mmap_read_lock(mm); [|mmap_read_lock(mm)|]; mmap_read_unlock(mm); mmap_read_unlock(mm); }"),
        Case("read_lock under one's own write_lock", @"
    void f() { write_lock(rw); [|read_lock(rw)|]; write_unlock(rw); }"),
        Case("read_lock under one's own write_lock, each released: the deadlock once", @"
    void f() { write_lock(rw); [|read_lock(rw)|]; count++; read_unlock(rw); write_unlock(rw); }"),
        Case("the value tested again after it was changed", @"
    void f(int mode) { if (mode == 1) [|spin_lock(rx_lock)|]; mode = 2; if (mode == 1) [|spin_unlock(rx_lock)|]; }"),
        Case("the flag tested the wrong way round", @"
    void f()
    {
        bool locked = false;
        if (count > 0) { [|spin_lock(rx_lock)|]; locked = true; }
        count++;
        if (!locked) [|spin_unlock(rx_lock)|]; // and released where it was never taken
    }"),
        Case("down without up on a path", @"
    void f() { [|down(sem)|]; if (busy) return; up(sem); }"),
        Case("handler returns with the lock held", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { [|spin_lock(rx_lock)|]; count++; return IRQ_HANDLED; }"),
        Case("lock in a local never released", @"
    void f() { var l = new spinlock_t(); [|spin_lock(l)|]; count++; }"),
        Case("unlock on only one branch after trylock", @"
    void f()
    {
        if ([|spin_trylock(rx_lock)|])
        {
            if (busy) return;
            spin_unlock(rx_lock);
        }
    }"),
        Case("a property getter that the code reads takes a lock and keeps it", @"
    int Snapshot { get { [|spin_lock(rx_lock)|]; return count; } }
    int f() => Snapshot + 1;"),
        Case("an unannotated helper releases a lock it does not hold itself, then takes it again (sparse: unexpected unlock)", @"
    void dispatch() { spin_lock(rx_lock); wait_for_poll(); count++; spin_unlock(rx_lock); }
    void wait_for_poll()
    {
        while (busy)
        {
            [|spin_unlock(rx_lock)|];
            cpu_relax();
            spin_lock(rx_lock);
        }
    }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("lock released in the catch before its return", @"
    int f()
    {
        spin_lock(rx_lock);
        try { count = check(count); }
        catch (System.InvalidOperationException) { spin_unlock(rx_lock); return -EINVAL; }
        spin_unlock(rx_lock);
        return 0;
    }" + Throwing),
        Case("a try whose code cannot throw: its catch is never reached with the lock held", @"
    int f(int n)
    {
        try
        {
            spin_lock(rx_lock);
            count = (count + n) / 2;
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.DivideByZeroException) { return -EINVAL; }
    }"),
        Case("a try around the kernel's own operators: gfp_t flags combined, kptr arithmetic", @"
    int f()
    {
        try
        {
            spin_lock(rx_lock);
            var q = kmalloc(64, GFP_ATOMIC | __GFP_ZERO);
            if (q != NULL)
                memset(q + 8, 0, 56);
            kfree(q);
            spin_unlock(rx_lock);
            return 0;
        }
        catch (System.InvalidOperationException) { return -EINVAL; }
    }"),
        Case("balanced conditional locking with trylock", @"
    void f() { if (spin_trylock(rx_lock)) { count++; spin_unlock(rx_lock); } }"),
        Case("[Acquires] / [Releases] helpers", @"
    [Acquires(""dev.hw_lock"")] void lock_hw() { spin_lock(dev.hw_lock); }
    [Releases(""dev.hw_lock"")] void unlock_hw() { spin_unlock(dev.hw_lock); }
    void f() { lock_hw(); count++; unlock_hw(); }"),
        Case("an unannotated lock helper marked [Acquires], called by nothing", @"
    [Acquires(""rx_lock"")] public void lock_rx() { spin_lock(rx_lock); }"),
        Case("hand-over-hand locking in a helper its caller pairs", @"
    void step(Device cur, Device next) { spin_lock(next.list_lock); spin_unlock(cur.list_lock); }
    void walk(Device a, Device b) { spin_lock(a.list_lock); step(a, b); spin_unlock(b.list_lock); }"),
        Case("inferred lock helpers", @"
    void lock_rx() { spin_lock(rx_lock); }
    void unlock_rx() { spin_unlock(rx_lock); }
    void f() { lock_rx(); count++; unlock_rx(); }"),
        Case("helper that holds the lock only when it returns true", @"
    bool try_rx() { return spin_trylock(rx_lock); }
    void f() { if (try_rx()) { count++; spin_unlock(rx_lock); } }"),
        Case("goto-style shared exit", @"
    int f()
    {
        int err = 0;
        mutex_lock(mtx);
        buf = kmalloc(64, GFP_KERNEL);
        if (buf == NULL) { err = -ENOMEM; goto out_unlock; }
        count++;
    out_unlock:
        mutex_unlock(mtx);
        return err;
    }"),
        Case("try/finally", @"
    void f() { spin_lock(rx_lock); try { count++; } finally { spin_unlock(rx_lock); } }"),
        Case("correlated conditional locking", @"
    void f(bool locked) { if (locked) spin_lock(rx_lock); count++; if (locked) spin_unlock(rx_lock); }"),
        Case("locking correlated by a comparison with a nonzero constant", @"
    void f(int mode) { if (mode == 1) spin_lock(rx_lock); count++; if (mode == 1) spin_unlock(rx_lock); }"),
        Case("locking correlated by != and == of the same constant", @"
    void f(int mode) { if (mode != 2) spin_lock(rx_lock); count++; if (mode == 2) return; spin_unlock(rx_lock); }"),
        Case("a flag set when the lock is taken, tested to release it", @"
    void f()
    {
        bool locked = false;
        if (count > 0) { spin_lock(rx_lock); locked = true; }
        count++;
        if (locked) spin_unlock(rx_lock);
    }"),
        Case("a flag declared with the lock, cleared when it is dropped early", @"
    int f()
    {
        spin_lock(rx_lock);
        bool held = true;
        if (count == 0) { spin_unlock(rx_lock); held = false; }
        count++;
        if (held) spin_unlock(rx_lock);
        return 0;
    }"),
        Case("lock / unlock in a loop", @"
    void f() { for (int i = 0; i < 3; i++) { spin_lock(rx_lock); count++; spin_unlock(rx_lock); } }"),
        Case("mutex_lock_interruptible tested for failure", @"
    int f() { if (mutex_lock_interruptible(mtx) != 0) return -EINTR; count++; mutex_unlock(mtx); return 0; }"),
        Case("[MustHold] helper", @"
    [MustHold(""rx_lock"")] void bump() { count++; }
    void f() { spin_lock(rx_lock); bump(); spin_unlock(rx_lock); }"),
        Case("trylock result stored in a local", @"
    void f() { bool ok = spin_trylock(rx_lock); if (!ok) return; count++; spin_unlock(rx_lock); }"),
        Case("nested read_lock of an rwlock_t (readers nest)", @"
    void f() { read_lock(rw); read_lock(rw); count++; read_unlock(rw); read_unlock(rw); }"),
        Case("down_read of two different rw_semaphores", @"
    void f(rw_semaphore a, rw_semaphore b) { down_read(a); down_read(b); up_read(b); up_read(a); }"),
        Case("nested different locks", @"
    void f() { spin_lock(rx_lock); spin_lock(tx_lock); count++; spin_unlock(tx_lock); spin_unlock(rx_lock); }"),
        Case("a [MustHold] helper drops the caller's lock around a wait and takes it again", @"
    void dispatch() { spin_lock(rx_lock); wait_for_poll(); count++; spin_unlock(rx_lock); }
    [MustHold(""rx_lock"")]
    void wait_for_poll()
    {
        while (busy)
        {
            spin_unlock(rx_lock);
            cpu_relax();
            spin_lock(rx_lock);
        }
    }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LockReleaseAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LockReleaseAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
