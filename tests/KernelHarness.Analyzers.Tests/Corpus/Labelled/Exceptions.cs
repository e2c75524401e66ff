// A configuration parser written with C# exceptions: the paths through its catch blocks, bugs and their
// correct neighbours. The kernel API never throws; the student's own parsing code does.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Exceptions;

public sealed class ConfigParser
{
    private readonly spinlock_t state_lock = new();
    private readonly mutex cfg_lock = new();
    private kptr table = NULL;
    private int mode;
    private int errors;

    private static int parse(int raw) => raw < 0 ? throw new System.FormatException("negative mode") : raw & 7;

    public void apply_locked(int raw)
    {
        spin_lock(state_lock);
        try
        {
            mode = parse(raw);
        }
        catch (System.FormatException)
        {
            errors++;
            msleep(10); // expect: KH1001
        }
        spin_unlock(state_lock);
    }

    public void apply_then_back_off(int raw)
    {
        try
        {
            spin_lock(state_lock);
            try
            {
                mode = parse(raw);
            }
            finally
            {
                spin_unlock(state_lock);
            }
        }
        catch (System.FormatException)
        {
            errors++;
            msleep(10);
        }
    }

    public int reload(int raw)
    {
        try
        {
            mutex_lock(cfg_lock); // expect: KH2003
            mode = parse(raw);
            mutex_unlock(cfg_lock);
            return 0;
        }
        catch (System.FormatException)
        {
            return -EINVAL;
        }
    }

    public int reload_unlocking(int raw)
    {
        mutex_lock(cfg_lock);
        try
        {
            mode = parse(raw);
        }
        catch (System.FormatException)
        {
            mutex_unlock(cfg_lock);
            return -EINVAL;
        }
        mutex_unlock(cfg_lock);
        return 0;
    }

    public int load_table(int raw)
    {
        var t = kzalloc(256, GFP_KERNEL);
        if (t == NULL)
            return -ENOMEM;
        try
        {
            mode = parse(raw);
        }
        catch (System.FormatException)
        {
            return -EINVAL; // expect: KH3004
        }
        table = t;
        return 0;
    }

    public int load_table_freeing(int raw)
    {
        var t = kzalloc(256, GFP_KERNEL);
        if (t == NULL)
            return -ENOMEM;
        try
        {
            mode = parse(raw);
        }
        catch (System.FormatException)
        {
            kfree(t);
            return -EINVAL;
        }
        table = t;
        return 0;
    }

    public void reset()
    {
        spin_lock(state_lock);
        mode = 0;
        errors = 0;
        spin_unlock(state_lock);
    }

    public void count_under_lock()
    {
        // Only kernel calls inside the try: nothing in it throws, so its catch is never entered with the lock held.
        try
        {
            spin_lock(state_lock);
            errors++;
            spin_unlock(state_lock);
        }
        catch (System.InvalidOperationException)
        {
            msleep(1);
        }
    }
}
