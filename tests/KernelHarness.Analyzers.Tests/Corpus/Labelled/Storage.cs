// Locking bugs in a storage-like module, and their correct neighbours.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Storage;

public sealed class Store
{
    private readonly spinlock_t idx_lock = new();
    private readonly rwlock_t map_lock = new();
    private readonly semaphore sem = new(1);
    private readonly mutex io_lock = new();
    private readonly timer_list timer = new();
    private readonly work_struct work = new();
    private int used;

    public void init()
    {
        timer_setup(timer, on_timer, 0);
        INIT_WORK(work, do_flush);
    }

    private void on_timer(timer_list t)
    {
        mutex_lock(io_lock); // expect: KH1001
        used = 0;
        mutex_unlock(io_lock);
        var p = kcalloc(2, 64, GFP_KERNEL); // expect: KH1002
        kfree(p);
    }

    private void do_flush(work_struct w)
    {
        var p = kmalloc(64, GFP_ATOMIC); // expect: KH1003
        kfree(p);
        down(sem);
        used = 0;
        up(sem);
    }

    public void twice()
    {
        spin_lock(idx_lock);
        spin_lock(idx_lock); // expect: KH2003
        spin_unlock(idx_lock);
    }

    public void unlock_twice()
    {
        spin_lock(idx_lock);
        used++;
        spin_unlock(idx_lock);
        spin_unlock(idx_lock); // expect: KH2003
    }

    public int lookup(int key)
    {
        read_lock(map_lock); // expect: KH2003
        if (key < 0)
            return -EINVAL;
        read_unlock(map_lock);
        return 0;
    }

    public void bh_mismatch()
    {
        spin_lock_bh(idx_lock);
        used++;
        spin_unlock(idx_lock); // expect: KH2004
    }

    public void irq_mismatch()
    {
        write_lock_irq(map_lock);
        used++;
        write_unlock(map_lock); // expect: KH2004
    }

    public void fine()
    {
        if (spin_trylock(idx_lock))
        {
            used++;
            spin_unlock(idx_lock);
        }
        spin_lock_irqsave(idx_lock, out var f);
        used--;
        spin_unlock_irqrestore(idx_lock, f);
    }

    public void rcu_leak(bool b)
    {
        rcu_read_lock(); // expect: KH2003
        if (b)
            return;
        rcu_read_unlock();
    }
}
